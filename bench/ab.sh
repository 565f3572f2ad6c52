#!/usr/bin/env bash
# A/B of two builds on one benchmark, in one session: this machine's speed moves by ±20 % within
# minutes, so a figure means something only beside the other build's, measured next to it.
# Runs COMMAND with each build in turn, --pairs times, the order swapped every pair (OLD NEW,
# NEW OLD, OLD NEW …: a drift in the machine's speed falls on both alike), takes the figure from
# each run's output (the first group of --figure, a Python regular expression, in the run's stdout
# and stderr; --last takes the last match), and prints every pair's NEW / OLD ratio, their median
# and their spread. The build reaches COMMAND as $CUBE_BIN, and as {cube} where an argument holds it.
# A run that fails, or whose output has no figure, stops the A/B with its output shown.
# Usage: bench/ab.sh OLD_CUBE NEW_CUBE --figure REGEX [--last] [--pairs 3] [--lower-is-better]
#        [--out DIR] -- COMMAND [ARG …]
# Example: bench/ab.sh /tmp/old/cube artifacts/dist/cube --pairs 3 \
#            --figure 'keys +([0-9.]+) M/s' -- {cube} bench lookup --raw --address 127.0.0.1:9000 --dict emb
set -euo pipefail
old=""; new=""; figure=""; last=0; pairs=3; lower=0; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --figure) figure=$2; shift 2 ;;
    --last) last=1; shift ;;
    --pairs) pairs=$2; shift 2 ;;
    --lower-is-better) lower=1; shift ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) if [ -z "$old" ]; then old=$1; elif [ -z "$new" ]; then new=$1; else echo "ab.sh: unexpected argument '$1' (the command goes after --)" >&2; exit 2; fi; shift ;;
  esac
done
[ -n "$old" ] && [ -n "$new" ] && [ -n "$figure" ] && [ $# -gt 0 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: --pairs must be a positive integer, not '$pairs'" >&2; exit 2; }
for bin in "$old" "$new"; do
  [ -x "$bin" ] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }
done
old=$(realpath "$old"); new=$(realpath "$new")
python3 -c 'import re, sys; r = re.compile(sys.argv[1]); sys.exit(0 if r.groups >= 1 else 1)' "$figure" 2>/dev/null \
  || { echo "ab.sh: --figure '$figure' is not a regular expression with a group around the number" >&2; exit 2; }
runs=$(mktemp -d /tmp/cube-ab.XXXXXX)
trap 'rm -rf "$runs"' EXIT

# $1 build, $2 name of the run; prints the figure.
run() {
  local bin=$1 name=$2 args=() a
  for a in "${cmd[@]}"; do args+=("${a//\{cube\}/$bin}"); done
  if ! CUBE_BIN="$bin" "${args[@]}" > "$runs/$name.txt" 2>&1; then
    echo "ab.sh: run $name failed ($bin):" >&2; tail -20 "$runs/$name.txt" >&2; exit 1
  fi
  python3 - "$figure" "$last" "$runs/$name.txt" <<'PY' || { echo "ab.sh: no figure matching '$figure' in run $name ($bin):" >&2; tail -20 "$runs/$name.txt" >&2; exit 1; }
import re, sys
found = re.findall(sys.argv[1], open(sys.argv[3], errors="replace").read())
if not found:
    sys.exit(1)
pick = found[-1] if sys.argv[2] == "1" else found[0]
print(float((pick[0] if isinstance(pick, tuple) else pick).replace(",", "")))  # 12,345 as printed
PY
}

cmd=("$@")
echo "A/B: OLD $old, NEW $new; $pairs pair(s), order swapped every pair; figure /$figure/"
echo "command: ${cmd[*]}"
printf "pair\told\tnew\tnew/old\n"
results=()
for i in $(seq "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then
    o=$(run "$old" "$i-old"); n=$(run "$new" "$i-new")
  else
    n=$(run "$new" "$i-new"); o=$(run "$old" "$i-old")
  fi
  results+=("$o $n")
  python3 -c "import sys; o, n = float(sys.argv[1]), float(sys.argv[2]); print(f'{sys.argv[3]}\t{o:g}\t{n:g}\t' + (f'{n / o:.3f}' if o else 'inf'))" "$o" "$n" "$i"
done
if [ -n "$out" ]; then
  mkdir -p "$out"; cp "$runs"/*.txt "$out"/
fi
python3 - "$lower" "${results[@]}" <<'PY'
import statistics, sys
lower = sys.argv[1] == "1"
pairs = [tuple(map(float, p.split())) for p in sys.argv[2:]]
ratios = [n / o for o, n in pairs if o]
if not ratios:
    sys.exit("ab.sh: every OLD figure was 0: no ratio")
median = statistics.median(ratios)
better = median < 1 if lower else median > 1
print(f"median new/old {median:.3f} (spread {min(ratios):.3f}–{max(ratios):.3f} over {len(ratios)} pair(s)); "
      f"{'lower' if lower else 'higher'} is better: NEW is {'better' if better else ('the same' if median == 1 else 'worse')} "
      f"by {abs(median - 1) * 100:.1f} % on the median")
PY
[ -n "$out" ] && echo "(each run's output in $out)"
exit 0
