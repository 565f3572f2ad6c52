#!/usr/bin/env bash
# Fuzzes the parsers (tests/Appliance.Fuzz.Tests): each target gets mutated inputs from its seed
# corpus for the given time with a fresh random seed. Every crash, hang (> 2 s) or allocation over
# 256 MiB is saved under tests/Appliance.Fuzz.Tests/fuzz-regressions/<target>/ (replayed by
# ./scripts/test.sh from then on) and reported. Prints executions and seconds per target.
# usage: scripts/fuzz.sh [TARGET...] [--minutes N] [--afl]
#   targets: frames session resp mgetreply sequencefile textkv donefile cubeconf transferconf gflags criteo
#            predictbody modelspec manifest agentcommand operatorbody oiprequest (default: all, N minutes each)
#   --afl    coverage-guided instead: afl-fuzz (Debian afl++, `scripts/setup.sh --fuzz`) drives
#            tests/Appliance.Fuzz.Afl with Appliance.Core instrumented by SharpFuzz. The queue
#            under artifacts/fuzz-afl/out/<target> is kept, so each run goes on from the last;
#            crashes and hangs are copied into fuzz-regressions/; every run is appended to
#            artifacts/fuzz-afl/history.tsv (date, target, executions, seconds, paths, crashes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
targets=(); minutes=1; afl=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --afl) afl=1; shift ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ "$afl" = 1 ]; then
  exec "$root/scripts/fuzz-afl.sh" "$minutes" "${targets[@]}"
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
filter="FullyQualifiedName~TargetHoldsItsInvariantOnMutatedInputs"
if [ ${#targets[@]} -gt 0 ]; then
  filter="$filter&($(printf 'DisplayName~%s|' "${targets[@]}" | sed 's/|$//'))"
fi
FUZZ_SECONDS=$((minutes * 60)) FUZZ_SEED=$RANDOM FUZZ_REPORT="$report" \
  FUZZ_SAVE="$root/tests/Appliance.Fuzz.Tests/fuzz-regressions" \
  dotnet test tests/Appliance.Fuzz.Tests -c Release --nologo --filter "$filter" >"$report.log" 2>&1 || true
if [ ! -s "$report" ]; then
  echo "no fuzz target ran:"; tail -20 "$report.log"; rm -f "$report.log"; exit 1
fi
printf "%-14s %14s %9s  %s\n" target executions seconds result
awk -F'\t' '{ printf "%-14s %14s %9s  %s\n", $1, $2, $3, $4 }' "$report"
if grep -q FAILED "$report"; then
  grep -E ": input" -A3 "$report.log" | cut -c1-300
  echo "new regression inputs: git status tests/Appliance.Fuzz.Tests/fuzz-regressions"
  rm -f "$report.log"; exit 1
fi
rm -f "$report.log"
