#!/usr/bin/env bash
# A day of patches: a base of --keys keys (40-byte rows, every key of [0, keys)), then --patches
# patches of --patch-pct % of the keys each (random keys of the same range, overlapping, new
# values), through a transfer and 2 shards × 2 replicas (server+agent processes) on this machine.
# Each patch's donefile line is appended as soon as the last one went live on every replica
# (--pace 0), or --pace seconds after the last one was appended.
# Per patch: seconds from the donefile line to every replica live (TSV). After each of --points
# patches: keys/s of one server over loopback (`cube bench lookup --raw`, closed loop, keys of its
# shard only), p99 at half that load (open loop), in process (`--data` on a hard-linked copy of
# the replica's packages, the lineage loaded whole as a restart loads it) — each against the base
# alone measured beside it: a reference server serving a hard-linked copy of the base package
# (and `--data` on it), the two alternated --pairs times (order swapped every pair), the median of
# the pairs' ratios (this machine drifts ±20 % within minutes; a lone figure per point cannot tell
# 90 % from noise) — the layers the live
# server reads, RSS of the four server+agent processes against base + 1.5 × the live patches' own
# size, and the disk of one replica against two copies of the base (base package, live fold) + the
# patch packages it still holds (retain_versions at its default, 24), beside base + every patch of
# the lineage (what a replica would hold with retain_versions 0, before any fold).
# Output: DIR/patch-day.tsv (per patch) and DIR/points.tsv, and a table on stdout; DIR is
# --out (default: a temporary directory, removed at exit unless --out is given).
# Usage: bench/patch-day.sh [--keys 10000000] [--patches 288] [--patch-pct 1] [--pace 0]
#        [--points "0 32 128 288"] [--duration 4] [--pairs 3] [--out DIR] [CUBE_BIN]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
keys=10000000; patches=288; patch_pct=1; pace=0; points="0 32 128 288"; duration=4; pairs=3; out=""; cube=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;;
    --patches) patches=$2; shift 2 ;;
    --patch-pct) patch_pct=$2; shift 2 ;;
    --pace) pace=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) cube=$(realpath "$1"); shift ;;
  esac
done
[ -z "$cube" ] && cube=$("$root/scripts/publish.sh")
work=$(mktemp -d /tmp/cube-patch-day.XXXXXX)
keep=${out:+1}
out=${out:-$work/out}
mkdir -p "$out"
out=$(realpath "$out")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
patch_keys=$((keys * patch_pct / 100))
echo "== $keys-key base, $patches patches of $patch_keys keys, pace ${pace}s; $cube"
mkdir -p data
"$cube" kv gen --format seq --keys "$keys" --key-range "$keys" --seed 1 --parts 8 --out "$work/data/100" >/dev/null
# Keys of shard 0 (key % 2 == 0) for the one-server measurements: 1M drawn at random.
python3 -c "
import random
r = random.Random(3)
print('\n'.join(str(2 * r.randrange($keys // 2)) for _ in range(1000000)))" > shard0-keys.txt
base=$((20000 + RANDOM % 12000))   # below the ephemeral range (32768+)
servers=()
# shellcheck source=bench/cluster.sh
. "$root/bench/cluster.sh"
start_cluster "$cube" "$base" 2 2

current() { curl -s "127.0.0.1:$((base + 99))/status" | python3 -c "import json,sys; print(json.load(sys.stdin)['transfer']['current_version'] or '')" 2>/dev/null || true; }
# $1 donefile, $2 line, $3 label every shard must serve; prints seconds, fails after 20 minutes.
publish() {
  local start
  start=$(date +%s.%N)
  echo "$2" >> "done/$1"
  local deadline=$((SECONDS + 1200))
  until [ "$(current)" = "$3" ]; do
    [ $SECONDS -gt $deadline ] && { echo "$3 not live after 20 minutes; transfer log:" >&2; tail -20 transfer.log >&2; exit 1; }
    sleep 0.02
  done
  python3 -c "import time; print(f'{time.time() - $start:.3f}')"
}

# M keys/s of the server on port $1 over loopback, closed loop, on core 1.
wire_keys() { taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$1" --dict emb --keys shard0-keys.txt --duration "$duration" 2>/dev/null | awk '/^keys/ {gsub(/[(]/, "", $3); print $3}'; }
# M keys/s in process on the packages under $1 (the lineage loaded whole), on core 1.
inproc_keys() { taskset -c 1 "$cube" bench lookup --data "$1" --dict emb --keys shard0-keys.txt --duration "$duration" 2>/dev/null | awk '/^keys/ {gsub(/[(]/, "", $3); print $3}'; }
median() { printf "%s\n" "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# The median of the pairs' ratios of arrays $1 / $2 (pair k: ${1}[k] / ${2}[k]).
ratio() { local -n a=$1 b=$2; local k r=(); for k in "${!a[@]}"; do r+=("$(awk -v x="${a[$k]}" -v y="${b[$k]}" 'BEGIN {printf "%.4f", x / y}')"); done; median "${r[@]}"; }

measure() {
  local p=$1 label=$2
  # Let the merges and folds the last patches started finish on every replica (at most 120 s):
  # the figures are of settled views (while a fold of an in-memory replica runs, it holds the
  # old and the new copy of its base).
  for _ in $(seq 1200); do
    busy=0
    for i in 0 1 2 3; do
      m=$(curl -s "127.0.0.1:$((base + 10 + i))/status" | python3 -c "import json,sys; print(int(json.load(sys.stdin)['server']['merging']))" 2>/dev/null || echo 1)
      busy=$((busy + m))
    done
    [ "$busy" -eq 0 ] && break
    sleep 0.1
  done
  sleep 1
  layers=$(curl -s "127.0.0.1:$((base + 10))/status" | python3 -c "import json,sys; s=json.load(sys.stdin)['server']; print(f\"{s['read_layers']}/{s['folded_patches']}/{s['folds']}\")")
  rm -rf copy && mkdir copy && for d in agent00/[0-9]*_[0-9]*; do cp -al "$d" copy/; done
  # Alternate the live server with the reference (the base alone), and the live lineage with
  # the base in process; the order swaps every pair.
  local k wire_live=() wire_ref=() in_live=() in_ref=()
  for k in $(seq "$pairs"); do
    for side in $( [ $((k % 2)) -eq 1 ] && echo "ref live" || echo "live ref"); do
      if [ "$side" = live ]; then
        wire_live+=("$(wire_keys "$base")"); in_live+=("$(inproc_keys copy)")
      else
        wire_ref+=("$(wire_keys "$ref_port")"); in_ref+=("$(inproc_keys ref)")
      fi
    done
  done
  local rps p99
  rps=$(taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$base" --dict emb --keys shard0-keys.txt --duration "$duration" 2>/dev/null | awk '/^requests/ {gsub(/[(]/, "", $3); print int($3 / 2)}')
  p99=$(taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$base" --dict emb --keys shard0-keys.txt --duration "$duration" --rate "$rps" 2>/dev/null | awk '/^latency/ {for (i = 1; i < NF; i++) if ($i == "p99") print $(i + 1)}')
  local rss=0 pid
  for pid in "${servers[@]}"; do rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") * 1024)); done
  local base_bytes patch_bytes disk
  base_bytes=$(du -sb agent00/100_100 | awk '{print $1}')
  patch_bytes=$(( $(du -sbc agent00/100_* | tail -1 | awk '{print $1}') - base_bytes ))
  disk=$(du -sb agent00 | awk '{print $1}')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$p" "$label" "$layers" \
    "$(median "${wire_live[@]}")" "${p99:-}" "$(median "${in_live[@]}")" \
    "$rss" "$base_bytes" "$patch_bytes" "$disk" "$all_patch_bytes" | sed 's/$/\t'"$(median "${wire_ref[@]}")\t$(ratio wire_live wire_ref)\t$(median "${in_ref[@]}")\t$(ratio in_live in_ref)/" | tee -a "$out/points.tsv"
}

printf "patches\tlabel\tread_layers/folded/folds\twire_mkeys_s\tp99_half_load_us\tin_process_mkeys_s\trss_4_replicas_bytes\tbase_bytes_replica\tpatch_bytes_replica\tdisk_bytes_replica\tall_patch_bytes_replica\twire_base_alone_mkeys_s\twire_vs_base_alone\tin_process_base_alone_mkeys_s\tin_process_vs_base_alone\n" > "$out/points.tsv"
all_patch_bytes=0
printf "patch\tlive_seconds\n" > "$out/patch-day.tsv"
echo "== base"
echo "base: $(publish base.txt "{\"id\": \"100\", \"key\": \"100\", \"input\": \"$work/data/100\"}" 100_100) s to live on every replica"
# The reference: shard 0's base package alone (hard links: retention's folds replace the
# replica's directory, never these files), served by a server of its own.
ref_port=$((base + 50))
mkdir ref && cp -al agent00/100_100 ref/
"$cube" run --roles server --bind 127.0.0.1 --port "$ref_port" --http-port $((base + 51)) --data-dir ref --dict emb --shard 0 > ref.log 2>&1 &
pids+=("$!")
ref_live() { curl -sf "127.0.0.1:$((base + 51))/status" | python3 -c "import json,sys; sys.exit(not str(json.load(sys.stdin)['server']['live_version']).startswith('100'))" 2>/dev/null; }
for _ in $(seq 600); do ref_live && break; sleep 0.1; done
ref_live || { echo "the reference server did not serve the base; ref.log:" >&2; tail -5 ref.log >&2; exit 1; }
for q in $points; do [ "$q" -eq 0 ] && measure 0 100_100; done
last=$(date +%s.%N)
for p in $(seq "$patches"); do
  id=$((100 + p))
  "$cube" kv gen --format seq --keys "$patch_keys" --key-range "$keys" --seed $((p + 1)) --parts 2 --out "$work/data/$id" >/dev/null
  if [ "$pace" != 0 ]; then
    python3 -c "import time; time.sleep(max(0.0, $last + $pace - time.time()))"
  fi
  last=$(date +%s.%N)
  t=$(publish patch.txt "{\"id\": \"$id\", \"key\": \"100\", \"input\": \"$work/data/$id\"}" "100_$id")
  printf "%s\t%s\n" "$p" "$t" >> "$out/patch-day.tsv"
  # Its package on one replica, while it is surely there (the newest version is always retained).
  all_patch_bytes=$((all_patch_bytes + $(du -sb "agent00/100_$id" | awk '{print $1}')))
  rm -rf "$work/data/$id"
  for q in $points; do [ "$q" -eq "$p" ] && measure "$p" "100_$id"; done
  [ $((p % 16)) -eq 0 ] && echo "patch $p live in $t s"
done

python3 - "$out" <<'PY'
import statistics, sys
out = sys.argv[1]
live = [float(l.split("\t")[1]) for l in open(f"{out}/patch-day.tsv").readlines()[1:]]
def pct(xs, q):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]
print()
print(f"donefile line → every replica live, {len(live)} patches: p50 {pct(live, 50):.2f} s, p99 {pct(live, 99):.2f} s; "
      f"patch 10: {live[9] if len(live) >= 10 else float('nan'):.2f} s, last: {live[-1]:.2f} s (median of the last 10 vs of patches 6-15: "
      f"{statistics.median(live[-10:]) / statistics.median(live[5:15]) if len(live) >= 15 else float('nan'):.2f}x)")
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/points.tsv").readlines()[1:]]
rss0 = int(rows[0][6])
print()
print("| patches | read layers / folded patches / folds | wire, M keys/s (one server; base alone beside it) | vs base alone (median of pair ratios) | p99 at half load | in process, M keys/s (base alone) | vs base alone | RSS of 4 replicas | its growth since the base vs 4 × 1.5 × live patches | disk of one replica | vs 2 × base + patch packages held | vs base + every patch |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for p, label, layers, w, p99, i, rss, b, pb, disk, allp, wr, wq, ir, iq in rows:
    print(f"| {p} | {layers} | {float(w):.2f} ({float(wr):.2f}) | {float(wq) * 100:.0f} % | {p99} us | {float(i):.2f} ({float(ir):.2f}) | {float(iq) * 100:.0f} % | "
          f"{int(rss) / 2**20:.0f} MiB | {(int(rss) - rss0) / 2**20:.0f} MiB vs {4 * 1.5 * int(allp) / 2**20:.0f} MiB | {int(disk) / 2**20:.0f} MiB | "
          f"{(2 * int(b) + int(pb)) / 2**20:.0f} MiB | {(int(b) + int(allp)) / 2**20:.0f} MiB |")
PY
[ -n "$keep" ] && echo "(TSVs in $out)"
exit 0
