#!/usr/bin/env bash
# Runs every test: publishes the native binary (the end-to-end tests run it as users do), then
# runs all test projects and prints one plain summary line "N passed, N failed[, N skipped]".
# Exit status is non-zero if anything failed or nothing ran.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Needs systemd-analyze and python3 (the unit-file and export-contract tests); this script never
# installs anything: scripts/setup.sh does (and .ci/run calls it first).
for tool in systemd-analyze python3 redis-cli promtool; do
  command -v "$tool" >/dev/null 2>&1 || echo "warning: $tool is missing: run ./scripts/setup.sh"
done

if ! bin=$("$root/scripts/publish.sh" 2>"$logs/publish.log"); then
  cat "$logs/publish.log" >&2
  echo "publish failed"
  echo "0 passed, 1 failed"
  exit 1
fi
export CUBE_BIN="$bin"
echo "testing with $CUBE_BIN"
# Tests write here what passed only on a second try (a tool that hung the first time, with where
# it hung); printed at the end, so a flaky tool is seen even when the run is green.
notes="$root/artifacts/test-notes.log"
rm -f "$notes"

passed=0; failed=0; skipped=0; status=0
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  # tests/Appliance.Fuzz.Afl is a program afl-fuzz runs (scripts/fuzz.sh --afl), not a test project.
  grep -q "<IsTestProject>true" "$project" || continue
  echo "== $name"
  dotnet test "$project" -c Release --nologo >"$logs/$name.log" 2>&1
  rc=$?
  # Each failure: its name, the message (the lines after "Error Message:"), and our frames.
  grep -E -A3 "^\s+(Failed|Skipped) " "$logs/$name.log" | grep -vE "^\s+at (System|Xunit|Microsoft)" | cut -c1-400 | head -80
  grep -E "^\s+at Appliance" "$logs/$name.log" | head -20
  line=$(grep -E "^(Passed|Failed)!" "$logs/$name.log" | tail -1)
  if [ -z "$line" ]; then
    tail -40 "$logs/$name.log"
    echo "$name: no test summary (build failure?)"
    failed=$((failed + 1)); status=1
    continue
  fi
  echo "$line"
  p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$line")
  s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$rc" -ne 0 ] && status=1
done

[ "$passed" -eq 0 ] && status=1
[ "$failed" -ne 0 ] && status=1
if [ -s "$notes" ]; then
  echo "== notes from the tests ($notes)"
  tail -c 20000 "$notes"
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
