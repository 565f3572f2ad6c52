#!/usr/bin/env bash
# Read cost against the number of patches on a base: a base of --keys keys (40-byte rows, every key
# of [0, keys)), then patches of --patch-keys random keys of the same range (new values), and the
# lookup rate with 0 and with each of --patches patches live: in process (`cube bench lookup
# --data`, one thread) and over loopback (`--raw`, the server on core 0, the generator on core 1).
# Several builds alternate (A, B, A, B … per point), so a comparison is within one session.
# The answers are checked first: `cube lookup --data` on the newest table against a plain
# dictionary of what the patches wrote, for --check keys.
# Usage: bench/patch-lookup.sh [--keys 1000000] [--patch-keys 10000] [--patches "0 8 32 128"]
#        [--duration 5] [--repeat 2] [CUBE_BIN …]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
keys=1000000; patch_keys=10000; points="0 8 32 128"; duration=5; repeat=2; check=6000
bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;;
    --patch-keys) patch_keys=$2; shift 2 ;;
    --patches) points=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) bins+=("$(realpath "$1")"); shift ;;
  esac
done
[ ${#bins[@]} -eq 0 ] && bins=("$("$root/scripts/publish.sh")")
work=$(mktemp -d /tmp/cube-patch-lookup.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cube=${bins[-1]}
max=0; for p in $points; do [ "$p" -gt "$max" ] && max=$p; done
echo "== a base of $keys keys and $max patches of $patch_keys keys"
"$cube" kv gen --keys "$keys" --key-range "$keys" --seed 1 --out "$work/base.txt" >/dev/null
"$cube" build --input "$work/base.txt" --input-format text --output "$work/all" --dict emb --shards 1 --version 1000 --value-codec f32 >/dev/null 2>&1
for p in $(seq "$max"); do
  "$cube" kv gen --keys "$patch_keys" --key-range "$keys" --seed $((p + 1)) --out "$work/p$p.txt" >/dev/null
  "$cube" build --input "$work/p$p.txt" --input-format text --output "$work/all" --dict emb --shards 1 --version $((1000 + p)) --mode delta --base 1000 --value-codec f32 >/dev/null 2>&1
done
# One directory per point: the base and the first P patches (hard links, no copies).
for p in $points; do
  mkdir -p "$work/at$p"
  cp -al "$work/all/1000_1000" "$work/at$p/"
  for q in $(seq 1 "$p"); do [ "$q" -ge 1 ] && cp -al "$work/all/1000_$((1000 + q))" "$work/at$p/"; done
  rm -rf "$work/at$p/.merged"
done
echo "== check: $check keys of the newest table against what the patches wrote"
python3 - "$work" "$max" "$check" <<'PY' > "$work/expected.tsv"
import random, sys
work, last, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = {}
for name in ["base.txt"] + [f"p{p}.txt" for p in range(1, last + 1)]:
    for line in open(f"{work}/{name}"):
        k, v = line.rstrip("\n").split("\t", 1)
        table[k] = v
for k in random.Random(7).sample(sorted(table), n):
    print(f"{k}\t{table[k]}")
PY
cut -f1 "$work/expected.tsv" > "$work/check-keys.txt"
for bin in "${bins[@]}"; do
  rm -rf "$work/at$max/.merged"
  "$bin" lookup --data "$work/at$max" --dict emb --floats - < "$work/check-keys.txt" > "$work/got.tsv" 2>/dev/null || true
  python3 - "$work/expected.tsv" "$work/got.tsv" "$bin" <<'PY'
import sys
want = {k: [float(x) for x in v.split()] for k, v in (l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]))}
got = {}
for line in open(sys.argv[2]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) >= 2:
        got[parts[0]] = [float(x) for x in parts[1].replace(",", " ").split()] if parts[1] not in ("MISSING", "FAILED") else None
bad = [k for k, v in want.items() if got.get(k) is None or any(abs(a - b) > 1e-6 for a, b in zip(got[k], v)) or len(got[k]) != len(v)]
print(f"{sys.argv[3]}: {len(want) - len(bad)} of {len(want)} keys hold the newest value" + (f"; first wrong: {bad[:3]}" if bad else ""))
PY
done
port=$((30000 + RANDOM % 20000))
: > "$work/results.tsv"
for round in $(seq "$repeat"); do
  for p in $points; do
    for bin in "${bins[@]}"; do
      rm -rf "$work/at$p/.merged"
      inproc=$(taskset -c 0 "$bin" bench lookup --data "$work/at$p" --dict emb --key-range "$keys" --duration "$duration" 2>/dev/null | awk '/^keys/ {gsub(/[(]/, "", $3); print $3}')
      rm -rf "$work/at$p/.merged"
      taskset -c 0 "$bin" run --roles server --bind 127.0.0.1 --port "$port" --http-port $((port + 1)) --data-dir "$work/at$p" --dict emb --shard 0 >"$work/server.log" 2>&1 &
      pid=$!
      for _ in $(seq 600); do grep -q "ready:" "$work/server.log" && break; sleep 0.1; done
      wire=$(taskset -c 1 "$bin" bench lookup --raw --address "127.0.0.1:$port" --dict emb --key-range "$keys" --duration "$duration" 2>/dev/null | awk '/^keys/ {gsub(/[(]/, "", $3); print $3}')
      layers=$(curl -s "127.0.0.1:$((port + 1))/metrics" | awk '/^cube_server_read_layers/ {print $2}')
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
      printf "%s\t%s\t%s\t%s\t%s\n" "$bin" "$p" "$inproc" "$wire" "${layers:--}" | tee -a "$work/results.tsv"
    done
  done
done
echo
echo "| build | patches | read layers | in process, M keys/s (median of $repeat) | vs 0 patches | over the wire, M keys/s per server core | vs 0 patches |"
echo "|---|---:|---:|---:|---:|---:|---:|"
python3 - "$work/results.tsv" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    b, p, i, w, l = line.rstrip("\n").split("\t")
    runs.setdefault((b, int(p)), []).append((float(i or 0), float(w or 0), l))
for (b, p), rs in sorted(runs.items()):
    i = statistics.median(r[0] for r in rs); w = statistics.median(r[1] for r in rs)
    i0 = statistics.median(r[0] for r in runs[(b, 0)]); w0 = statistics.median(r[1] for r in runs[(b, 0)])
    print(f"| {b} | {p} | {rs[0][2]} | {i:.2f} | {i / i0 * 100:.0f} % | {w:.2f} | {w / w0 * 100:.0f} % |")
PY
