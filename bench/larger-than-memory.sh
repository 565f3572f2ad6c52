#!/usr/bin/env bash
# Tables larger than memory: one server in a memory cgroup whose limit holds only a fraction of
# the package, Zipf-skewed or uniform keys over every row of the table, and what that costs:
# keys/s (and as a multiple of the device's 4 KiB random-read IOPS, measured with fio in the same
# run), p50/p99 closed loop, p99 at half that load (open loop), and where the time goes (bytes
# read per request, the server's CPU, the cgroup's usage and hits of its limit). Two modes:
#   mapped  --in_mem false: the package mmap'd, the page cache holds what the limit allows.
#   disk    --values disk: the index in memory, values read with direct I/O, hot rows in a row
#           cache of fit % of the values file (--cache-mb); the limit is the server + the index +
#           the cache, so "fit" is the share of the values memory holds. Hit rate and device reads
#           per key from the server's /status.
#   Table: `cube kv gen --key-scheme index` (row i has key IndexedKeys.Of(i)), one shard, so the
#   generator (`cube bench lookup --raw --indexed-keys N --zipf S`) can draw any row without a key
#   list, and every key drawn is in the table: "missing" must stay 0 at every limit (checked).
#   Before each point the package is dropped from the page cache (posix_fadvise DONTNEED) and read
#   once inside the cgroup (cat), so the cache holds what the limit allows, charged to the server's
#   cgroup; a warm-up of --warmup seconds under load then lets the hot keys' pages displace the rest.
#   Server on core 0, generator on core 1, closed loop (connections x pipeline in flight).
# Needs root and a cgroup-v1 memory controller (/sys/fs/cgroup/memory) or cgroup v2 (memory.max).
# Needs fio (scripts/setup.sh installs it).
# Writes docs/bench/larger-than-memory-DATE.tsv and .png (bench/plot.py).
# Usage: bench/larger-than-memory.sh [--keys 50] (millions) [--fits 200,90,50,10] [--zipf 0.99,0]
#          [--modes mapped,disk] [--points Z:F,...] [--duration 10] [--warmup 10] [--pipeline 8]
#          [--connections 2]
#   --points overrides --fits × --zipf with a list of zipf:fit pairs (e.g. 0.99:10,0:10,0:50,0:200).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
millions=50; fits=200,90,50,10; zipfs=0.99,0; duration=10; warmup=10; pipeline=8; modes=mapped,disk; points=""; connections=2
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) millions=$2; shift 2 ;;
    --fits) fits=$2; shift 2 ;;
    --zipf) zipfs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "usage: $0 [--keys 50] [--fits 200,90,50,10] [--zipf 0.99,0] [--modes mapped,disk] [--points Z:F,...] [--duration 10] [--warmup 10] [--pipeline 8] [--connections 2]" >&2; exit 2 ;;
  esac
done
keys=$((millions * 1000000))
command -v fio >/dev/null || { echo "$0: needs fio (scripts/setup.sh installs it)" >&2; exit 1; }
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}
work=$(mktemp -d /tmp/cube-ltm.XXXXXX)

# A child of our own memory cgroup (v1) or of the v2 root we may write.
if [ -d /sys/fs/cgroup/memory ]; then
  parent=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
  cg="$parent/cube-ltm-$$"; limit_file=memory.limit_in_bytes; usage_file=memory.usage_in_bytes; fail_file=memory.failcnt
else
  cg=/sys/fs/cgroup/cube-ltm-$$; limit_file=memory.max; usage_file=memory.current; fail_file=memory.events
fi
mkdir "$cg" || { echo "$0: cannot create a memory cgroup ($cg): needs root and a memory controller" >&2; exit 1; }
spid=
# The cgroup can only be removed once empty: wait for the server (and a cat prewarm) to be gone.
cleanup() {
  [ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
  for _ in $(seq 1 50); do [ -s "$cg/cgroup.procs" ] || break; sleep 0.1; done
  rmdir "$cg" 2>/dev/null || echo "$0: could not remove $cg" >&2
  rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
out_tsv="$root/docs/bench/larger-than-memory-$(date +%F).tsv"
mkdir -p "$root/docs/bench"
echo -e "mode\tzipf\tfit_pct\tlimit_mb\tpackage_mb\tkeys_per_s\tx_iops\trps\tp50_us\tp99_us\tp999_us\thalf_load_p99_us\tmissing\tfailed\tmajflt_per_req\tread_kb_per_req\thit_rate\treads_per_key\tserver_cpu\tusage_mb\tlimit_hits\tiops" > "$out_tsv"

echo "== table: $keys keys (--key-scheme index), 40-byte values, one shard"
"$cube" kv gen --format seq --keys "$keys" --parts 8 --seed 3 --key-scheme index --out "$work/in" >/dev/null
"$cube" build --input "$work/in" --output "$work/node" --dict t --shards 1 --version 1 >/dev/null 2>&1
rm -rf "$work/in"
package=$(find "$work/node" -name '*.bin' -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
index_bytes=$(find "$work/node" -name 'index.bin' -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
values_bytes=$((package - index_bytes))
echo "package: $((package >> 20)) MB (index $((index_bytes >> 20)) MB, values $((values_bytes >> 20)) MB)"

# The device's own limit, on the values file itself, in this run: 4 KiB random reads, direct,
# 32 in flight (fio's io_uring engine), 10 s.
values_file=$(find "$work/node" -name 'values.bin' | head -1)
iops=$(fio --name=randread --filename="$values_file" --readonly --rw=randread --bs=4k --direct=1 --iodepth=32 \
  --ioengine=io_uring --runtime=10 --time_based --output-format=terse 2>/dev/null | awk -F';' '{print $8}')
echo "device: fio randread 4 KiB direct, iodepth 32: $iops IOPS"

key0=$(python3 -c 'M = (1 << 64) - 1
z = 0x9E3779B97F4A7C15
z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
print(z ^ (z >> 31))')  # IndexedKeys.Of(0)
drop_cache() { find "$work/node" -name '*.bin' -print0 | xargs -0 python3 -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)'; }

# The server's own memory (heap, code, buffers) with no package pages: measured once, unlimited.
start_server() { # $1 limit in bytes ("max" = none), $2 mode (mapped|disk), $3 cache MB (disk)
  drop_cache
  echo "$1" > "$cg/$limit_file" 2>/dev/null || echo -1 > "$cg/$limit_file"
  [ "$fail_file" = memory.failcnt ] && echo 0 > "$cg/$fail_file"  # limit hits per point, not cumulative
  local values_flags="--in_mem false"
  if [ "${2:-mapped}" = disk ]; then
    values_flags="--values disk --cache-mb ${3:-0}"  # direct reads: nothing to prewarm in the page cache
  else
    sh -c "echo \$\$ > '$cg/cgroup.procs' && exec cat $(find "$work/node" -name '*.bin' | tr '\n' ' ')" > /dev/null
  fi
  port=$((30000 + RANDOM % 20000))
  taskset -c 0 sh -c "echo \$\$ > '$cg/cgroup.procs' && exec '$cube' run --roles server --bind 127.0.0.1 --port $port --http-port $((port + 1)) --data-dir '$work/node' --dict t --shard 0 $values_flags" > "$work/server.log" 2>&1 &
  spid=$!
  # Ready = a key of the table answered (the first open of a fresh package verifies its checksums).
  for _ in $(seq 1 3000); do curl -sf "http://127.0.0.1:$((port + 1))/lookup?keys=$key0" 2>/dev/null | grep -q '"status": *"found"' && return 0; sleep 0.02; done
  cat "$work/server.log" >&2; echo "server did not become ready" >&2; exit 1
}
stop_server() { kill "$spid"; wait "$spid" 2>/dev/null || true; spid=; }
disk_counters() { # found keys, cache hits, device reads (0 0 0 in mapped mode)
  curl -sf "http://127.0.0.1:$((port + 1))/status" | python3 -c 'import json, sys
d = json.load(sys.stdin)["server"].get("disk") or {}
print(d.get("keys", 0), d.get("cache_hits", 0), d.get("device_reads", 0))'; }
wait_prefill() { # until the disk tier'"'"'s background prefill stops adding rows (at most 120 s)
  local last=-1 now
  for _ in $(seq 1 240); do
    now=$(curl -sf "http://127.0.0.1:$((port + 1))/status" | python3 -c 'import json, sys; print((json.load(sys.stdin)["server"].get("disk") or {}).get("prefilled", 0))')
    [ "$now" = "$last" ] && return 0
    last=$now; sleep 0.5
  done; }

# The server's own memory under this load (heap, connection buffers, code), without the package:
# its anonymous RSS after a short unlimited run, plus 32 MB of slack for the kernel's share.
start_server max mapped
taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --batch 100 \
  --connections "$connections" --pipeline "$pipeline" --duration 2 --warmup 1 > "$work/gen.out" 2>&1 || { cat "$work/gen.out" >&2; exit 1; }
overhead=$(( $(awk '/^RssAnon/ {print $2}' "/proc/$spid/status") * 1024 + (32 << 20) ))
stop_server
echo "server without the package, under load: $((overhead >> 20)) MB"
# The same for the disk tier (its read buffers, the threads that wait for reads), with no cache:
# its anonymous RSS includes the index, which its limit adds back.
start_server max disk 0
taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --batch 100 \
  --connections "$connections" --pipeline "$pipeline" --duration 2 --warmup 1 > "$work/gen.out" 2>&1 || { cat "$work/gen.out" >&2; exit 1; }
disk_overhead=$(( $(awk '/^RssAnon/ {print $2}' "/proc/$spid/status") * 1024 - index_bytes + (32 << 20) ))
stop_server
echo "disk-tier server without its cache and index, under load: $((disk_overhead >> 20)) MB"

if [ -z "$points" ]; then
  IFS=, read -ra fit_list <<< "$fits"; IFS=, read -ra zipf_list <<< "$zipfs"
  for z in "${zipf_list[@]}"; do for f in "${fit_list[@]}"; do points="$points${points:+,}$z:$f"; done; done
fi
IFS=, read -ra point_list <<< "$points"
IFS=, read -ra mode_list <<< "$modes"
for mode in "${mode_list[@]}"; do
  for point in "${point_list[@]}"; do
    z=${point%%:*}; f=${point##*:}
    if [ "$mode" = disk ]; then
      cache_mb=$(( values_bytes * f / 100 >> 20 ))
      limit=$((disk_overhead + index_bytes + (cache_mb << 20)))
    else
      cache_mb=0
      limit=$((overhead + package * f / 100))
    fi
    echo "== $mode, zipf $z, limit $((limit >> 20)) MB (server + $f % of the $([ "$mode" = disk ] && echo "values, cache $cache_mb MB, + the index" || echo package))"
    start_server "$limit" "$mode" "$cache_mb"
    [ "$mode" = disk ] && wait_prefill
    taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --zipf "$z" --batch 100 \
      --connections "$connections" --pipeline "$pipeline" --duration "$warmup" --warmup 0 --seed 11 > /dev/null 2>&1 || true
    read -r mf0 c0 <<< "$(awk '{print $12, $14 + $15}' "/proc/$spid/stat")"
    r0=$(awk '/^read_bytes/ {print $2}' "/proc/$spid/io")
    read -r k0 h0 d0 <<< "$(disk_counters)"
    taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --zipf "$z" --batch 100 \
      --connections "$connections" --pipeline "$pipeline" --duration "$duration" --warmup 0 --seed 12 > "$work/gen.out" 2>&1 || {
        cat "$work/gen.out" >&2; kill -0 "$spid" 2>/dev/null || echo "the server died (OOM kill under a $((limit >> 20)) MB limit?)" >&2; exit 1; }
    read -r k1 h1 d1 <<< "$(disk_counters)"
    read -r mf1 c1 <<< "$(awk '{print $12, $14 + $15}' "/proc/$spid/stat")"
    r1=$(awk '/^read_bytes/ {print $2}' "/proc/$spid/io")
    # p99 at half the load just measured: an open loop at half its requests/s.
    half=$(python3 -c "import re; print(max(1, int(float(re.search(r'\(([\d.]+) requests/s\)', open('$work/gen.out').read()).group(1)) / 2)))")
    taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --zipf "$z" --batch 100 \
      --connections "$connections" --rate "$half" --duration "$duration" --warmup 1 --seed 13 > "$work/half.out" 2>&1 || true
    usage=$(cat "$cg/$usage_file")
    hits=$(if [ "$fail_file" = memory.failcnt ]; then cat "$cg/$fail_file"; else awk '/^max / {print $2}' "$cg/$fail_file"; fi)
    stop_server
    python3 - "$work/gen.out" "$z" "$f" "$limit" "$package" "$mf0" "$mf1" "$r0" "$r1" "$c0" "$c1" "$hz" "$duration" "$usage" "$hits" "$mode" "$iops" "$work/half.out" "$k0" "$h0" "$d0" "$k1" "$h1" "$d1" <<'PY' | tee -a "$out_tsv"
import re, sys
out, z, f, limit, package, mf0, mf1, r0, r1, c0, c1, hz, duration, usage, hits, mode, iops, half, k0, h0, d0, k1, h1, d1 = sys.argv[1:]
text = open(out).read()
rps = float(re.search(r"\(([\d.]+) requests/s\)", text).group(1))
kps = float(re.search(r"\(([\d.]+) M keys/s\)", text).group(1)) * 1e6
missing = int(re.search(r"missing (\d+)", text).group(1))
failed = int(re.search(r"failed (\d+)", text).group(1))
p = [int(x) for x in re.search(r"p50 (\d+) us  p90 \d+ us  p99 (\d+) us  p99\.9 (\d+) us", text).groups()]
hp = re.search(r"p99 (\d+) us", open(half).read())
half_p99 = hp.group(1) if hp else "-"
# Counters around the measured run only (the warm-up run before it is not counted).
requests = rps * float(duration)
majflt = (int(mf1) - int(mf0)) / requests
read_kb = (int(r1) - int(r0)) / 1024 / requests
cpu = (float(c1) - float(c0)) / float(hz) / float(duration)
keys = int(k1) - int(k0)
hit = f"{(int(h1) - int(h0)) / keys:.3f}" if keys > 0 else "-"
rpk = f"{(int(d1) - int(d0)) / keys:.3f}" if keys > 0 else "-"
print(f"{mode}\t{z}\t{f}\t{int(limit) >> 20}\t{int(package) >> 20}\t{kps:.0f}\t{kps / float(iops):.2f}\t{rps:.0f}\t{p[0]}\t{p[1]}\t{p[2]}\t{half_p99}\t{missing}\t{failed}\t{majflt:.2f}\t{read_kb:.1f}\t{hit}\t{rpk}\t{cpu:.2f}\t{int(usage) >> 20}\t{hits}\t{iops}")
PY
  done
done
column -t "$out_tsv"
if awk -F'\t' 'NR > 1 && ($13 != 0 || $14 != 0) {bad = 1} END {exit !bad}' "$out_tsv"; then
  echo "$0: lookups were missing or failed under a memory limit (see the table)" >&2; exit 1
fi
py=$("$root/bench/plot-python.sh")
"$py" "$root/bench/plot.py" memory "$out_tsv" "${out_tsv%.tsv}.png" && echo "plot: ${out_tsv%.tsv}.png"
