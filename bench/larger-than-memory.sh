#!/usr/bin/env bash
# Tables larger than memory: one server (--in_mem false, the package mmap'd) in a
# memory cgroup whose limit holds only a fraction of the package, Zipf-skewed keys over every row
# of the table, and what that costs: keys/s, p50/p99, and where the time goes (the server's major
# page faults and bytes read per request, its CPU, the cgroup's usage and hits of its limit).
#   Table: `cube kv gen --key-scheme index` (row i has key IndexedKeys.Of(i)), one shard, so the
#   generator (`cube bench lookup --raw --indexed-keys N --zipf S`) can draw any row without a key
#   list, and every key drawn is in the table: "missing" must stay 0 at every limit (checked).
#   Before each point the package is dropped from the page cache (posix_fadvise DONTNEED) and read
#   once inside the cgroup (cat), so the cache holds what the limit allows, charged to the server's
#   cgroup; a warm-up of --warmup seconds under load then lets the hot keys' pages displace the rest.
#   Server on core 0, generator on core 1, closed loop (connections x pipeline in flight).
# Needs root and a cgroup-v1 memory controller (/sys/fs/cgroup/memory) or cgroup v2 (memory.max).
# Writes docs/bench/larger-than-memory-DATE.tsv and .png (bench/plot.py).
# Usage: bench/larger-than-memory.sh [--keys 50] (millions) [--fits 200,90,50,10] [--zipf 0.99,0]
#                                    [--duration 10] [--warmup 10] [--pipeline 8]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
millions=50; fits=200,90,50,10; zipfs=0.99,0; duration=10; warmup=10; pipeline=8
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) millions=$2; shift 2 ;;
    --fits) fits=$2; shift 2 ;;
    --zipf) zipfs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    *) echo "usage: $0 [--keys 50] [--fits 200,90,50,10] [--zipf 0.99,0] [--duration 10] [--warmup 10] [--pipeline 8]" >&2; exit 2 ;;
  esac
done
keys=$((millions * 1000000))
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
echo -e "zipf\tfit_pct\tlimit_mb\tpackage_mb\tkeys_per_s\trps\tp50_us\tp99_us\tp999_us\tmissing\tfailed\tmajflt_per_req\tread_kb_per_req\tserver_cpu\tusage_mb\tlimit_hits" > "$out_tsv"

echo "== table: $keys keys (--key-scheme index), 40-byte values, one shard"
"$cube" kv gen --format seq --keys "$keys" --parts 8 --seed 3 --key-scheme index --out "$work/in" >/dev/null
"$cube" build --input "$work/in" --output "$work/node" --dict t --shards 1 --version 1 >/dev/null 2>&1
rm -rf "$work/in"
package=$(find "$work/node" -name '*.bin' -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
echo "package: $((package >> 20)) MB"

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
start_server() { # $1 limit in bytes ("max" = none)
  drop_cache
  echo "$1" > "$cg/$limit_file" 2>/dev/null || echo -1 > "$cg/$limit_file"
  [ "$fail_file" = memory.failcnt ] && echo 0 > "$cg/$fail_file"  # limit hits per point, not cumulative
  sh -c "echo \$\$ > '$cg/cgroup.procs' && exec cat $(find "$work/node" -name '*.bin' | tr '\n' ' ')" > /dev/null
  port=$((30000 + RANDOM % 20000))
  taskset -c 0 sh -c "echo \$\$ > '$cg/cgroup.procs' && exec '$cube' run --roles server --bind 127.0.0.1 --port $port --http-port $((port + 1)) --data-dir '$work/node' --dict t --shard 0 --in_mem false" > "$work/server.log" 2>&1 &
  spid=$!
  # Ready = a key of the table answered (the first open of a fresh package verifies its checksums).
  for _ in $(seq 1 3000); do curl -sf "http://127.0.0.1:$((port + 1))/lookup?keys=$key0" 2>/dev/null | grep -q '"status": *"found"' && return 0; sleep 0.02; done
  cat "$work/server.log" >&2; echo "server did not become ready" >&2; exit 1
}
stop_server() { kill "$spid"; wait "$spid" 2>/dev/null || true; spid=; }

# The server's own memory under this load (heap, connection buffers, code), without the package:
# its anonymous RSS after a short unlimited run, plus 32 MB of slack for the kernel's share.
start_server max
taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --batch 100 \
  --connections 2 --pipeline "$pipeline" --duration 2 --warmup 1 > "$work/gen.out" 2>&1 || { cat "$work/gen.out" >&2; exit 1; }
overhead=$(( $(awk '/^RssAnon/ {print $2}' "/proc/$spid/status") * 1024 + (32 << 20) ))
stop_server
echo "server without the package, under load: $((overhead >> 20)) MB"

IFS=, read -ra fit_list <<< "$fits"
IFS=, read -ra zipf_list <<< "$zipfs"
for z in "${zipf_list[@]}"; do
  for f in "${fit_list[@]}"; do
    limit=$((overhead + package * f / 100))
    echo "== zipf $z, limit $((limit >> 20)) MB (server + $f % of the package)"
    start_server "$limit"
    read -r mf0 c0 <<< "$(awk '{print $12, $14 + $15}' "/proc/$spid/stat")"
    r0=$(awk '/^read_bytes/ {print $2}' "/proc/$spid/io")
    taskset -c 1 "$cube" bench lookup --raw --address "127.0.0.1:$port" --dict t --indexed-keys "$keys" --zipf "$z" --batch 100 \
      --connections 2 --pipeline "$pipeline" --duration "$duration" --warmup "$warmup" > "$work/gen.out" 2>&1 || {
        cat "$work/gen.out" >&2; kill -0 "$spid" 2>/dev/null || echo "the server died (OOM kill under a $((limit >> 20)) MB limit?)" >&2; exit 1; }
    read -r mf1 c1 <<< "$(awk '{print $12, $14 + $15}' "/proc/$spid/stat")"
    r1=$(awk '/^read_bytes/ {print $2}' "/proc/$spid/io")
    usage=$(cat "$cg/$usage_file")
    hits=$(if [ "$fail_file" = memory.failcnt ]; then cat "$cg/$fail_file"; else awk '/^max / {print $2}' "$cg/$fail_file"; fi)
    stop_server
    python3 - "$work/gen.out" "$z" "$f" "$limit" "$package" "$mf0" "$mf1" "$r0" "$r1" "$c0" "$c1" "$hz" "$duration" "$warmup" "$usage" "$hits" <<'PY' | tee -a "$out_tsv"
import re, sys
out, z, f, limit, package, mf0, mf1, r0, r1, c0, c1, hz, duration, warmup, usage, hits = sys.argv[1:]
text = open(out).read()
rps = float(re.search(r"\(([\d.]+) requests/s\)", text).group(1))
kps = float(re.search(r"\(([\d.]+) M keys/s\)", text).group(1)) * 1e6
missing = int(re.search(r"missing (\d+)", text).group(1))
failed = int(re.search(r"failed (\d+)", text).group(1))
p = [int(x) for x in re.search(r"p50 (\d+) us  p90 \d+ us  p99 (\d+) us  p99\.9 (\d+) us", text).groups()]
# The server's counters cover warm-up and measurement; requests over both at the measured rate
# would overstate the warm-up's (colder) share, so these are per request of the whole run, an upper bound.
requests = rps * (float(duration) + float(warmup))
majflt = (int(mf1) - int(mf0)) / requests
read_kb = (int(r1) - int(r0)) / 1024 / requests
cpu = (float(c1) - float(c0)) / float(hz) / (float(duration) + float(warmup))
print(f"{z}\t{f}\t{int(limit) >> 20}\t{int(package) >> 20}\t{kps:.0f}\t{rps:.0f}\t{p[0]}\t{p[1]}\t{p[2]}\t{missing}\t{failed}\t{majflt:.2f}\t{read_kb:.1f}\t{cpu:.2f}\t{int(usage) >> 20}\t{hits}")
PY
  done
done
column -t "$out_tsv"
if awk -F'\t' 'NR > 1 && ($10 != 0 || $11 != 0) {bad = 1} END {exit !bad}' "$out_tsv"; then
  echo "$0: lookups were missing or failed under a memory limit (see the table)" >&2; exit 1
fi
py=$("$root/bench/plot-python.sh")
"$py" "$root/bench/plot.py" memory "$out_tsv" "${out_tsv%.tsv}.png" && echo "plot: ${out_tsv%.tsv}.png"
