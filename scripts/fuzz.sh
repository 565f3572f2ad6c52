#!/usr/bin/env bash
# Fuzzes the parsers (tests/Appliance.Fuzz.Tests): each target gets mutated inputs from its seed
# corpus for the given time with a fresh random seed. Every crash, hang (> 2 s) or allocation over
# 256 MiB is saved under tests/Appliance.Fuzz.Tests/fuzz-regressions/<target>/ (replayed by
# ./scripts/test.sh from then on) and reported. Prints executions and seconds per target.
# usage: scripts/fuzz.sh [TARGET] [--minutes N]      targets: frames sequencefile textkv donefile
#        cubeconf transferconf criteo predictbody modelspec manifest (default: all, 1 minute each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=""; minutes=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) target=$1; shift ;;
  esac
done
report=$(mktemp)
trap 'rm -f "$report"' EXIT
filter="FullyQualifiedName~TargetHoldsItsInvariantOnMutatedInputs"
[ -n "$target" ] && filter="$filter&DisplayName~$target"
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
