#!/usr/bin/env bash
# The coverage-guided half of scripts/fuzz.sh (called as `scripts/fuzz.sh --afl`):
#   scripts/fuzz-afl.sh MINUTES [TARGET...]
# Builds tests/Appliance.Fuzz.Afl, instruments a copy of Appliance.Core.dll with SharpFuzz (the
# dotnet tool pinned in dotnet-tools.json), then runs afl-fuzz on each target for MINUTES.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=$1; shift
command -v afl-fuzz >/dev/null || { echo "afl-fuzz is missing: run scripts/setup.sh --fuzz"; exit 1; }
work=$root/artifacts/fuzz-afl
regressions=$root/tests/Appliance.Fuzz.Tests/fuzz-regressions
dotnet build tests/Appliance.Fuzz.Afl -c Release --nologo -v q >/dev/null
plain=$root/artifacts/bin/Appliance.Fuzz.Afl/release_linux-x64
rm -rf "$work/bin"; mkdir -p "$work/out" "$work/seeds"
cp -r "$plain" "$work/bin"
dotnet tool restore >/dev/null
dotnet sharpfuzz "$work/bin/Appliance.Core.dll" Appliance.Core >/dev/null
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(dotnet "$plain/Appliance.Fuzz.Afl.dll" --list)

export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_AUTORESUME=1
status=0
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$2" 2>/dev/null || true; }
printf "%-14s %12s %8s %12s %8s %7s %8s %6s  %s\n" target executions seconds "total execs" "total s" paths coverage found result
for t in "${targets[@]}"; do
  stats=$work/out/$t/default/fuzzer_stats
  # afl-fuzz resumes its counters with the queue: this run's share is the difference.
  before_execs=$(stat execs_done "$stats"); before_time=$(stat run_time "$stats")
  rm -rf "$work/seeds/$t"
  dotnet "$plain/Appliance.Fuzz.Afl.dll" "$t" --seeds "$work/seeds/$t"
  # -t: a hang is an input over 5 s; -m none: the CLR reserves far more than it uses.
  afl-fuzz -i "$work/seeds/$t" -o "$work/out/$t" -V $((minutes * 60)) -t 5000 -m none \
    -- "$(command -v dotnet)" "$work/bin/Appliance.Fuzz.Afl.dll" "$t" >"$work/$t.log" 2>&1 || true
  if [ ! -f "$stats" ]; then
    echo "$t: afl-fuzz did not start:"; grep -E "PROGRAM ABORT|SYSTEM ERROR|Location" -A2 "$work/$t.log" | head -8
    status=1; continue
  fi
  found=0
  for f in "$work/out/$t"/default/crashes/id:* "$work/out/$t"/default/hangs/id:*; do
    [ -f "$f" ] || continue
    keep=$regressions/$t/afl-$(sha256sum "$f" | cut -c1-16).bin
    [ -f "$keep" ] && continue # found by an earlier run, already kept
    mkdir -p "$regressions/$t"
    cp "$f" "$keep"
    found=$((found + 1))
  done
  result=ok; [ "$found" -gt 0 ] && { result=FOUND; status=1; }
  execs=$(( $(stat execs_done "$stats") - ${before_execs:-0} )); seconds=$(( $(stat run_time "$stats") - ${before_time:-0} ))
  printf "%-14s %12s %8s %12s %8s %7s %8s %6s  %s\n" "$t" "$execs" "$seconds" "$(stat execs_done "$stats")" "$(stat run_time "$stats")" "$(stat corpus_count "$stats")" "$(stat bitmap_cvg "$stats")" "$found" "$result"
  printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$(date -u +%FT%TZ)" "$t" "$execs" "$seconds" "$(stat corpus_count "$stats")" "$found" >>"$work/history.tsv"
done
[ "$status" -ne 0 ] && echo "new regression inputs (replayed by scripts/test.sh): git status $regressions"
exit $status
