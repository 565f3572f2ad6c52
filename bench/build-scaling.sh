#!/usr/bin/env bash
# How cost grows with the table, one row per size, all in one run:
#   build time (median of --repeat, the AOT binary as an operator runs it) and keys/s; the time
#   the disk needs to write the same bytes beside it (dd through the page cache with fdatasync, and
#   dd oflag=direct — the builder writes large files with O_DIRECT); index and package
#   bytes per key; cold start (process start -> first lookup answered over HTTP /lookup) with
#   --in_mem false (mmap) and --in_mem true; in-process lookup keys/s (`cube bench lookup --data`,
#   one thread, the store alone); over-the-wire keys/s per server core (server pinned
#   to core 0, `cube bench lookup --raw` on core 1, keys drawn from the table, batch 100).
# Input: SequenceFiles of 40-byte values (10 float32) from `cube kv gen --format seq`, 8 parts.
# Writes docs/bench/build-scaling-DATE.tsv and .png (bench/plot.py; python3-matplotlib).
# Every timed build starts after --settle seconds of quiet (default 15): on these VMs memory a
# process freed goes back to the hypervisor within ~5 s, and touching it again costs ~20x more
# (python mmap test: 0.09 s/GiB re-touched at once, 0.27 after 2 s, 1.7 after 5 s, 2.5 after 20 s),
# so a build right after another one (or after a big server exited) ran faster than the same
# build alone (same builder, unsettled run vs settled: 5M 0.99 vs 1.28 s, 20M 3.3 vs 7.3 s).
# Settled, every size and every repeat meets the same machine: the one a builder meets when a new
# input arrives after a quiet spell.
# Usage: bench/build-scaling.sh [--sizes 1,5,20] [--repeat 3] [--shards 2] [--wire-seconds 3] [--settle 15]
#   sizes in millions of keys (builds of 50M keys and more run once); CUBE_BIN=/path/to/cube
#   measures another build. 200M keys needs ~25 GB of free disk and most of 24 GiB of RAM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sizes=1,5,20; repeat=3; shards=2; wire=3; settle=15
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --wire-seconds) wire=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    *) echo "usage: $0 [--sizes 1,5,20] [--repeat 3] [--shards 2] [--wire-seconds 3] [--settle 15]" >&2; exit 2 ;;
  esac
done
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}
work=$(mktemp -d /tmp/cube-scaling.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
py3=$(command -v /usr/bin/python3 || command -v python3)  # a pyenv shim costs ~1 s per start, 100 starts per size
out_tsv="$root/docs/bench/build-scaling-$(date +%F).tsv"
mkdir -p "$root/docs/bench"
echo -e "keys\tbuild_s\tbuild_keys_per_s\tdisk_s\tbuild_over_disk\tindex_bytes_per_key\tpackage_bytes_per_key\tcold_mmap_ms\tcold_in_mem_ms\twire_keys_per_core_s\tdisk_direct_s\tinproc_keys_s" > "$out_tsv"

# Cold start: process start -> the first /lookup of a present key answered (ms).
cold_start() { # $1 data dir, $2 in_mem, $3 key
  local port=$((30000 + RANDOM % 20000)) t0 pid
  t0=$(now)
  "$cube" run --roles server --bind 127.0.0.1 --port 0 --http-port "$port" --data-dir "$1" --dict t --shard 0 --in_mem "$2" >"$work/cold.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 20000); do
    if curl -sf "http://127.0.0.1:$port/lookup?keys=$3" 2>/dev/null | grep -q '"status": *"found"'; then break; fi
    sleep 0.002
  done
  echo "($(now) - $t0) * 1000" | bc
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

IFS=, read -ra list <<< "$sizes"
for m in "${list[@]}"; do
  keys=$((m * 1000000))
  echo "== $keys keys"
  rm -rf "$work/in" "$work/out"
  "$cube" kv gen --format seq --keys "$keys" --parts 8 --seed 3 --out "$work/in" >/dev/null
  times=()
  runs=$repeat; [ "$m" -ge 50 ] && runs=1  # tables of 50M keys and more: one build (minutes each)
  for r in $(seq 1 "$runs"); do
    rm -rf "$work/out"; sync; sleep "$settle"
    t0=$(now); "$cube" build --input "$work/in" --output "$work/out" --dict t --shards "$shards" --version 1 >/dev/null 2>&1; t1=$(now)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  build=$(printf '%s\n' "${times[@]}" | median)
  bytes=$(du -sb "$work/out" | cut -f1)
  index=$(find "$work/out" -name index.bin -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
  t0=$(now); dd if=/dev/zero of="$work/dd" bs=1M count=$((bytes / 1048576 + 1)) conv=fdatasync 2>/dev/null; t1=$(now); rm -f "$work/dd"
  disk=$(echo "$t1 - $t0" | bc)
  t0=$(now); dd if=/dev/zero of="$work/dd" bs=1M count=$((bytes / 1048576 + 1)) oflag=direct conv=fdatasync 2>/dev/null; t1=$(now); rm -f "$work/dd"
  disk_direct=$(echo "$t1 - $t0" | bc)

  # One shard's directory as a server's data dir (shard 0), and keys that shard holds.
  shard0="$work/node"; rm -rf "$shard0"; mkdir -p "$shard0"; cp -rl "$work/out/1_1" "$shard0/"
  "$cube" kv dump "$work/in/part-00000" --limit 30000 | cut -f1 > "$work/keys-all.txt"

  # Over the wire, one server core: the keys of shard 0 among the sample, batch 100.
  port=$((30000 + RANDOM % 20000))
  taskset -c 0 "$cube" run --roles server --bind 127.0.0.1 --port "$port" --http-port $((port + 1)) --data-dir "$shard0" --dict t --shard 0 >"$work/server.log" 2>&1 &
  spid=$!; pids+=("$spid")
  for _ in $(seq 1 500); do curl -sf "http://127.0.0.1:$((port + 1))/status" >/dev/null 2>&1 && break; sleep 0.02; done
  # Loading 100M keys into memory takes seconds; until a version is live every key "failed".
  for _ in $(seq 1 6000); do curl -sf "http://127.0.0.1:$((port + 1))/lookup?keys=$(head -1 "$work/keys-all.txt")" 2>/dev/null | grep -Eq '"status": *"(found|missing)"' && break; sleep 0.05; done
  split -l 300 "$work/keys-all.txt" "$work/kchunk."
  : > "$work/keys.txt"
  for f in "$work"/kchunk.*; do
    curl -sf "http://127.0.0.1:$((port + 1))/lookup?keys=$(paste -sd, "$f")" | "$py3" -c 'import json,sys; [print(k["key"]) for k in json.load(sys.stdin)["keys"] if k.get("status") == "found"]' >> "$work/keys.txt" || true
  done
  rm -f "$work"/kchunk.*
  echo "[{\"dict_name\": \"t\", \"shard\": 1, \"dup\": 1, \"timeout\": 5000, \"retry\": 0, \"backup_request\": 0, \"type\": \"ipport_list\", \"nodes\": [{\"ipport_list\": \"list://127.0.0.1:$port\"}]}]" > "$work/cube.conf"
  c0=$(cpu_ticks "$spid")
  taskset -c 1 "$cube" bench lookup --raw --conf "$work/cube.conf" --keys "$work/keys.txt" --batch 100 --connections 2 --pipeline 32 --duration "$wire" --warmup 1 > "$work/wire.txt"
  c1=$(cpu_ticks "$spid")
  kill "$spid"; wait "$spid" 2>/dev/null || true
  wire_keys=$(awk '/^keys/ {print $2}' "$work/wire.txt")
  key=$(head -1 "$work/keys.txt")
  taskset -c 1 "$cube" bench lookup --data "$shard0" --dict t --keys "$work/keys.txt" --batch 100 --duration "$wire" --warmup 1 > "$work/inproc.txt"
  inproc=$(awk '/^keys/ {gsub(/\(/, "", $3); print $3 * 1e6}' "$work/inproc.txt")
  mmap_ms=$(for r in 1 2 3; do cold_start "$shard0" false "$key"; done | median)
  mem_ms=$(for r in 1 2 3; do cold_start "$shard0" true "$key"; done | median)
  cpu=$(echo "($c1 - $c0) / $hz" | bc -l)
  # The server's CPU covered warmup + measure; scale the measured keys to the whole window.
  per_core=$(echo "$wire_keys * ($wire + 1) / $wire / $cpu" | bc -l)

  printf '%d\t%.3f\t%.0f\t%.3f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.3f\t%.0f\n' "$keys" "$build" "$(echo "$keys / $build" | bc -l)" "$disk" "$(echo "$build / $disk" | bc -l)" \
    "$(echo "$index / $keys" | bc -l)" "$(echo "$bytes / $keys" | bc -l)" "$mmap_ms" "$mem_ms" "$per_core" "$disk_direct" "$inproc" | tee -a "$out_tsv"
done
column -t "$out_tsv"
py=$("$root/bench/plot-python.sh")
"$py" "$root/bench/plot.py" scaling "$out_tsv" "${out_tsv%.tsv}.png" && echo "plot: ${out_tsv%.tsv}.png"
