#!/usr/bin/env bash
# Server throughput per core, cube (native protocol, the original clients' baidu_std, RESP) vs Redis
# MGET, on the same keys in one run.
#   1M keys 0..999999, 40-byte values (10 float32), batch 100, the same connections and pipelining.
#   Each server is pinned to core 0, its load generator to core 1; per-core figures divide by the
#   CPU time the server process really used (from /proc), so a generator that saturates first
#   cannot flatter or hide the server. Both generators are lean: redis-benchmark for Redis,
#   `cube bench lookup --raw` for cube (blocking sockets, no per-request tasks or timers), so at
#   half the maximum rate the generator's own queue does not dominate the measured tail.
#   Two RESP rows, the same cube server's --resp-port: one driven by redis-benchmark's MGET, the
#   same generator, command line and keys as the Redis row (keys are the 12-digit decimal text
#   redis-benchmark makes of __rand_int__; cube parses it as the number) — RESP ÷ Redis; one by
#   `cube bench lookup --raw --protocol resp` (the same keys' text), the generator of the native
#   row, which saturates the server as it does for native — RESP ÷ native.
# Usage: bench/server-vs-redis.sh [--duration S] [--connections C] [--pipeline P]
#   CUBE_SERVER_ARGS="--latency-histograms false" adds flags to the cube server (e.g. to measure
#   what the latency histograms cost: run it with and without, in the same session).
# Installs redis-server (apt-get) if missing; starts its own instances on 127.0.0.1 and stops them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
duration=10; connections=2; pipeline=32
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--connections C] [--pipeline P]" >&2; exit 2 ;;
  esac
done
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }

work=$(mktemp -d /tmp/cube-vs-redis.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}  # CUBE_BIN=/path/to/cube compares another build
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "== table: 1M keys (0..999999), 40-byte values"
"$cube" kv gen --keys 1000000 --key-range 1000000 --dim 10 --seed 5 --out "$work/table.txt" >/dev/null
"$cube" build --input "$work/table.txt" --input-format text --output "$work/packages" --dict bench --shards 1 --version 1 2>/dev/null >/dev/null
port=$((20000 + RANDOM % 20000))
cat > "$work/cube.conf" <<CONF
[{"dict_name": "bench", "shard": 1, "dup": 1, "timeout": 5000, "retry": 0, "backup_request": 0, "type": "ipport_list", "nodes": [{"ipport_list": "list://127.0.0.1:$port"}]}]
CONF

echo "== cube server (core 0) ← cube bench lookup (core 1), $connections connections × $pipeline in flight, batch 100"
rport=$((port + 2)); respport=$((port + 3))
resp_flag=(); "$cube" run --help | grep -q -- "--resp-port" && resp_flag=(--resp-port "$respport")  # builds before RESP: no RESP row
taskset -c 0 "$cube" run --roles server --bind 127.0.0.1 --port "$port" --http-port $((port + 1)) "${resp_flag[@]}" ${CUBE_SERVER_ARGS:-} --data-dir "$work/packages" --dict bench >"$work/server.log" 2>&1 &
server=$!; pids+=("$server")
for _ in $(seq 50); do grep -q "ready:" "$work/server.log" && break; sleep 0.1; done
# One closed-loop run of the raw generator: its report, and the server's CPU cores over the same
# wall-clock span (the generator's warm-up second included on both sides, at the same load; the
# CPU divided by --duration alone would charge cube the warm-up's CPU against fewer seconds).
closed() { # PROTOCOL OUT [where: --conf FILE (default) or --address HOST:PORT --dict NAME]
  local c0 c1 start end proto=$1 out=$2
  shift 2
  local where=("$@"); [ ${#where[@]} -gt 0 ] || where=(--conf "$work/cube.conf")
  c0=$(cpu_ticks "$server"); start=$(date +%s.%N)
  taskset -c 1 "$cube" bench lookup --raw --protocol "$proto" "${where[@]}" --key-range 1000000 --batch 100 --connections "$connections" --pipeline "$pipeline" --duration "$duration" | tee "$out"
  end=$(date +%s.%N); c1=$(cpu_ticks "$server")
  python3 -c "print(($c1 - $c0) / $hz / ($end - $start))" > "$out.cpu"
}
closed native "$work/cube-closed.txt"
cube_rps=$(awk '/^requests/ {gsub(/[()]/, "", $3); print $3}' "$work/cube-closed.txt")
cube_keys=$(awk '/^keys/ {print $2}' "$work/cube-closed.txt")
cube_p99=$(awk '/^latency/ {print $9}' "$work/cube-closed.txt")
cube_cpu=$(cat "$work/cube-closed.txt.cpu")
brpc_rps=0; brpc_p99=0; brpc_cpu=1
if "$cube" bench lookup --help | grep -q "brpc"; then  # builds before baidu_std: no brpc row
  echo "== cube baidu_std (core 0) ← cube bench lookup --protocol brpc (core 1): the original clients' DictService.seek, same keys"
  closed brpc "$work/brpc.txt"
  brpc_rps=$(awk '/^requests/ {gsub(/[()]/, "", $3); print $3}' "$work/brpc.txt")
  brpc_p99=$(awk '/^latency/ {print $9}' "$work/brpc.txt")
  brpc_cpu=$(cat "$work/brpc.txt.cpu")
fi
half=$(python3 -c "print(int($cube_rps / 2))")
echo "== cube open loop at half the closed-loop maximum: $half requests/s"
taskset -c 1 "$cube" bench lookup --raw --conf "$work/cube.conf" --key-range 1000000 --batch 100 --connections "$connections" --rate "$half" --duration "$duration" | tee "$work/cube-open.txt"
cube_half_p99=$(awk '/^latency/ {print $9}' "$work/cube-open.txt")

keys_cmd=$(for _ in $(seq 100); do printf '__rand_int__ '; done)
requests=$(python3 -c "print(int(max(20000, min(2000000, $cube_rps / 10 * $duration))))")
# One redis-benchmark MGET run against a port: requests/s, p99 (ms), server CPU cores used.
mget() { # PORT PID OUT
  local c0 c1 start end
  c0=$(cpu_ticks "$2"); start=$(date +%s.%N)
  # shellcheck disable=SC2086
  taskset -c 1 redis-benchmark -p "$1" -c "$connections" -P "$pipeline" -n "$requests" -r 1000000 --precision 3 MGET $keys_cmd | tr '\r' '\n' | grep -E "throughput summary|latency summary|avg|^ +[0-9]" | tail -4 | tee "$3"
  end=$(date +%s.%N); c1=$(cpu_ticks "$2")
  python3 -c "print(($c1 - $c0) / $hz / ($end - $start))" > "$3.cpu"
}
resp_rps=0; resp_p99=0; resp_cpu=1; own_rps=0; own_cpu=1
if [ ${#resp_flag[@]} -gt 0 ]; then
  # RESP against native with the same generator: redis-benchmark on one core does not saturate
  # cube's RESP port (the server ~0.85 busy), and a server that waits between reads spends more
  # CPU per key; cube's raw generator saturates both, so their per-core figures compare the
  # protocols' own costs.
  if "$cube" bench lookup --help | grep -q "resp ("; then
    echo "== cube RESP (core 0) ← cube bench lookup --protocol resp (core 1): MGET of the same keys as 12-digit text, same generator as the native row"
    closed resp "$work/resp-own.txt" --address "127.0.0.1:$respport" --dict bench
    own_rps=$(awk '/^requests/ {gsub(/[()]/, "", $3); print $3}' "$work/resp-own.txt")
    own_cpu=$(cat "$work/resp-own.txt.cpu")
  fi
  echo "== cube RESP (core 0) ← redis-benchmark MGET of 100 random keys (core 1), $connections connections × $pipeline pipelined"
  mget "$respport" "$server" "$work/resp.txt"
  resp_rps=$(awk '/throughput summary/ {print $3}' "$work/resp.txt")
  resp_p99=$(awk 'f {print $5; exit} /avg/ {f=1}' "$work/resp.txt")
  resp_cpu=$(cat "$work/resp.txt.cpu")
fi
kill "$server"; wait "$server" 2>/dev/null || true

echo "== redis-server (core 0) ← redis-benchmark MGET of 100 random keys (core 1), $connections connections × $pipeline pipelined"
taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "$work/redis.log" &
redis=$!; pids+=("$redis")
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$root/bench/redis-load.py" "$work/table.txt" > "$work/load.resp"
redis-cli -p "$rport" --pipe < "$work/load.resp" | tail -1
mget "$rport" "$redis" "$work/redis.txt"
redis_rps=$(awk '/throughput summary/ {print $3}' "$work/redis.txt")
redis_p99=$(awk 'f {print $5; exit} /avg/ {f=1}' "$work/redis.txt")
redis_cpu=$(cat "$work/redis.txt.cpu")

python3 - <<PY
cube_rps, cube_cpu, redis_rps, redis_cpu, resp_rps, resp_cpu, brpc_rps, brpc_cpu, own_rps, own_cpu = $cube_rps, $cube_cpu, $redis_rps, $redis_cpu, $resp_rps, $resp_cpu, $brpc_rps, $brpc_cpu, $own_rps, $own_cpu
cube_kps = cube_rps * 100; redis_kps = redis_rps * 100; resp_kps = resp_rps * 100; brpc_kps = brpc_rps * 100; own_kps = own_rps * 100
cube_core = cube_kps / max(cube_cpu, 1e-9); redis_core = redis_kps / max(redis_cpu, 1e-9); resp_core = resp_kps / max(resp_cpu, 1e-9); brpc_core = brpc_kps / max(brpc_cpu, 1e-9); own_core = own_kps / max(own_cpu, 1e-9)
print()
print("| server | keys/s | server CPU (cores) | keys/s per server core | p99 at max | p99 at half max |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| cube  | {cube_kps/1e6:.2f} M | {cube_cpu:.2f} | {cube_core/1e6:.2f} M | {int('$cube_p99')} us | {int('$cube_half_p99')} us |")
print(f"| cube baidu_std seek | {brpc_kps/1e6:.2f} M | {brpc_cpu:.2f} | {brpc_core/1e6:.2f} M | {int('$brpc_p99')} us | - |")
print(f"| cube RESP MGET (cube's generator) | {own_kps/1e6:.2f} M | {own_cpu:.2f} | {own_core/1e6:.2f} M | - | - |")
print(f"| cube RESP MGET | {resp_kps/1e6:.2f} M | {resp_cpu:.2f} | {resp_core/1e6:.2f} M | {float('$resp_p99')*1000:.0f} us | - |")
print(f"| redis MGET | {redis_kps/1e6:.2f} M | {redis_cpu:.2f} | {redis_core/1e6:.2f} M | {float('$redis_p99')*1000:.0f} us | - |")
print(f"cube / redis, keys/s per server core: {cube_core / redis_core:.1f}x (native), {resp_core / redis_core:.1f}x (RESP, same generator and command)")
print(f"baidu_std / native, keys/s per server core: {brpc_core / max(cube_core, 1e-9):.2f}")
print(f"RESP / native, keys/s per server core, both from cube's generator: {own_core / max(cube_core, 1e-9):.2f}")
PY
