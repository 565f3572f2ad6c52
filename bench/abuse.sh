#!/usr/bin/env bash
# The abuse suite against one or more builds: every attack of tests/Appliance.E2E.Tests/AbuseTests.cs
# (a claimed OIP shape, clients that pipeline without reading to the proxy and to the engine, 1M-key
# replies abandoned unread, a slow reader, AUTH guessing and the token on /lookup, a tampered
# package, hostile nodes for `cube status`) run against the real binary on loopback. Each attack
# prints RSS before/after, native blocks still in use, and whether its limits held.
# Usage: bench/abuse.sh [--seconds S] [CUBE_BIN …]
#   --seconds S   how long each sustained attack runs (default 20; test.sh runs them for 4)
#   CUBE_BIN …    builds to compare, run one after the other (default: scripts/publish.sh's)
# Example (before/after): bench/abuse.sh --seconds 20 /tmp/old/cube artifacts/dist/cube
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=20
bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) bins+=("$1"); shift ;;
  esac
done
[ ${#bins[@]} -eq 0 ] && bins=("$("$root/scripts/publish.sh")")
work=$(mktemp -d /tmp/cube-abuse.XXXXXX)
trap 'rm -rf "$work"' EXIT
dotnet build "$root/tests/Appliance.E2E.Tests" -c Release --nologo -v quiet >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
for bin in "${bins[@]}"; do
  bin=$(realpath "$bin")
  report="$work/$(echo "$bin" | tr '/' '_').tsv"
  : > "$report"
  echo "== $bin ($("$bin" version)), attacks of $seconds s"
  CUBE_BIN="$bin" ABUSE_SECONDS="$seconds" ABUSE_REPORT="$report" \
    dotnet test "$root/tests/Appliance.E2E.Tests" -c Release --no-build --nologo \
    --filter "FullyQualifiedName~AbuseTests" --logger "console;verbosity=normal" >"$work/run.log" 2>&1
  printf "%-34s %10s %10s %8s  %-6s %s\n" attack "RSS before" "RSS after" "native" result detail
  # One line per test: its report line (if it got that far) and whether its limits held.
  grep -E "^\s+(Passed|Failed) Appliance.E2E.Tests.AbuseTests" "$work/run.log" | while read -r result name _; do
    test=${name##*.}
    line=$(grep -m1 -F "$(python3 - "$test" <<'PY'
import sys
names = {
  "OipShapesTheBytesDoNotBackCostNothing": "oip-claimed-shape",
  "AProxyClientThatDoesNotReadIsHeldToItsWindow": "resp-proxy-pipeline-unread",
  "AnEngineClientThatDoesNotReadIsHeldToItsWindow": "engine-predict-pipeline-unread",
  "RepliesOfClientsThatLeftAreReturned": "abandoned-1M-key-replies",
  "ASlowReaderThatKeepsReadingGetsItsWholeReply": "slow-reader-2MBps",
  "TheRespTokenProtectsLookupAndWrongGuessesAreSlowedCountedAndLogged": "resp-auth-guessing",
  "PackageVerifyAndTheLoaderSeeABitFlippedWithItsMtimeRestored": "tampered-package-touch-r",
  "CubeStatusReadsHostileNodesAsDownOrEscapedNeverRaw": "status-hostile-nodes",
}
print(names.get(sys.argv[1], sys.argv[1]))
PY
)" "$report" || true)
    if [ -n "$line" ]; then
      IFS=$'\t' read -r attack before after native detail <<<"$line"
    else
      attack=$test; before=-; after=-; native=-; detail="(did not get to its report: see below)"
    fi
    printf "%-34s %7s MB %7s MB %8s  %-6s %s\n" "$attack" "$before" "$after" "$native" "$result" "$detail"
  done
  grep -E "^\s+Error Message:" -A2 "$work/run.log" | grep -vE "^\s+Error Message:|^--" | cut -c1-200 | head -20
  grep -E "^(Passed|Failed)!" "$work/run.log" | tail -1
done
