#!/usr/bin/env bash
# Latency under load: p50/p99/p99.9 at 10, 25, 50, 75, 90 % of each server's own
# measured maximum, open loop (latency from each request's scheduled start), for cube's native
# protocol, cube's RESP port and Redis MGET, in one run, on the same keys, batch 100.
#   One generator for all three: `cube bench lookup --raw` (blocking sockets, no per-request task,
#   timer or allocation), with --protocol resp sending byte-identical MGETs to cube and to Redis.
#   Each server is pinned to core 0, the generator to core 1 (--gen-cores to change). The maximum is
#   the closed loop (connections × pipeline in flight); per-core figures divide by the CPU time the
#   server really used (/proc). Every point also records the generator's own CPU (user + sys over
#   wall, from /usr/bin/time) and the server's, and at the maximum a second generator instance runs
#   beside the first: if the two together get no more than one, the generator was not the limit.
# Writes docs/bench/latency-vs-load-DATE.tsv and .png (bench/plot.py; python3-matplotlib).
# Each open-loop point runs --repeat times (default 3); the run with the median p99 is reported.
# These VMs' speed drifts by ±20 % within a minute, so one maximum at the start does not say what
# "75 %" is a few minutes later: every run of a point is bracketed by a closed-loop maximum just
# before it (its rate is the percentage of that one) and one just after (--bracket S seconds each),
# and the TSV records both and the load the point really was (achieved ÷ the mean of the two).
# --pm-qos US holds /dev/cpu_dma_latency at US microseconds for the whole run (root): no idle
# state slower than that, so with 0 an idle vCPU polls instead of halting (what tuned's
# latency-performance profile does); its output files end in -pmqos.
# Before the first curve and after the last, `cube bench stalls` spins a thread on each core for
# --stalls S seconds and records what they lost, then how long a thread blocked on core 0 takes to
# run when core 1 wakes it (-stalls.txt beside the TSV): the time this VM takes a core away, and
# what waking an idle one costs, which no server can hide from its p99.
# A load the server cannot keep up with (the generator falls 65536 requests behind) is "overload".
# Usage: bench/latency-vs-load.sh [--duration S] [--repeat N] [--loads 10,25,50,75,90] [--servers cube,cube-resp,redis]
#                                 [--connections C] [--pipeline P] [--gen-cores 1] [--bracket 2] [--pm-qos US] [--stalls 5]
# Installs redis-server (apt-get) if missing; starts its own instances on 127.0.0.1 and stops them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
duration=5; repeat=3; loads=10,25,50,75,90; servers=cube,cube-resp,redis; connections=2; pipeline=32; gen_cores=1
bracket=2; pm_qos=""; stalls=5
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --loads) loads=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --gen-cores) gen_cores=$2; shift 2 ;;
    --bracket) bracket=$2; shift 2 ;;
    --pm-qos) pm_qos=$2; shift 2 ;;
    --stalls) stalls=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--repeat N] [--loads 10,25,50,75,90] [--servers cube,cube-resp,redis] [--connections C] [--pipeline P] [--gen-cores 1] [--bracket 2] [--pm-qos US] [--stalls 5]" >&2; exit 2 ;;
  esac
done
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}
work=$(mktemp -d /tmp/cube-latency.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
out_tsv="$root/docs/bench/latency-vs-load-$(date +%F)${pm_qos:+-pmqos}.tsv"
mkdir -p "$root/docs/bench"
echo -e "server\tload_pct\toffered_rps\tachieved_rps\tp50_us\tp99_us\tp999_us\tmax_us\tserver_cpu\tgen_cpu\tkeys_per_core_s\tmax_before_rps\tmax_after_rps\trealized_pct" > "$out_tsv"
if [ -n "$pm_qos" ]; then
  # The kernel honours the request while the file stays open; the holder is killed on exit.
  python3 -c "import os, struct, time; f = os.open('/dev/cpu_dma_latency', os.O_WRONLY); os.write(f, struct.pack('i', $pm_qos)); time.sleep(1e9)" &
  pids+=($!)
  echo "== PM QoS: cpu_dma_latency held at $pm_qos us"
fi

echo "== table: 1M keys (0..999999), 40-byte values"
"$cube" kv gen --keys 1000000 --key-range 1000000 --dim 10 --seed 5 --out "$work/table.txt" >/dev/null
"$cube" build --input "$work/table.txt" --input-format text --output "$work/packages" --dict bench --shards 1 --version 1 >/dev/null 2>&1

# One generator run against the server process $1 at $2 (ADDRESS), protocol $3, extra args after:
# prints "achieved_rps p50 p99 p999 max server_cpu gen_cpu keys_per_core" (CPU in cores busy).
measure() {
  local pid=$1 address=$2 protocol=$3; shift 3
  local c0 c1 t0 t1
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  taskset -c "$gen_cores" /usr/bin/time -f "%U %S %e" -o "$work/gen.time" \
    "$cube" bench lookup --raw --address "$address" --protocol "$protocol" --dict bench --key-range 1000000 --batch 100 \
      --connections "$connections" --duration "$duration" --warmup 1 "$@" > "$work/gen.out" 2> "$work/gen.err" && echo 0 > "$work/gen.rc" || echo $? > "$work/gen.rc"
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  if [ "$(cat "$work/gen.rc")" != 0 ] || ! grep -q "failed 0" "$work/gen.out"; then
    # The open loop gives up when the server falls more than 65536 requests behind on a connection:
    # that load is past what it can serve, its latency unbounded.
    if grep -q "not keeping up" "$work/gen.out" "$work/gen.err"; then echo "overload"; return; fi
    cat "$work/gen.out" "$work/gen.err" >&2; echo "generator failed" >&2; return 1
  fi
  python3 - "$work/gen.out" "$work/gen.time" "$c0" "$c1" "$t0" "$t1" "$hz" "$duration" <<'PY'
import re, sys
out, timef, c0, c1, t0, t1, hz, duration = sys.argv[1:]
text = open(out).read()
rps = float(re.search(r"\(([\d.]+) requests/s\)", text).group(1))
keys = int(re.search(r"^keys +(\d+)", text, re.M).group(1))
p = [int(x) for x in re.search(r"p50 (\d+) us  p90 \d+ us  p99 (\d+) us  p99\.9 (\d+) us  max (\d+) us", text).groups()]
user, sys_, wall = map(float, open(timef).read().split()[-3:])
server_cpu = (float(c1) - float(c0)) / float(hz) / (float(t1) - float(t0))
gen_cpu = (user + sys_) / wall
# keys per second of server CPU: the server's CPU covered warmup + measure (+ connect).
per_core = keys / ((float(c1) - float(c0)) / float(hz)) * (float(duration) + 1) / float(duration)
print(f"{rps:.0f} {p[0]} {p[1]} {p[2]} {p[3]} {server_cpu:.2f} {gen_cpu:.2f} {per_core:.0f}")
PY
}

# A closed-loop maximum of --bracket seconds (requests/s), to bracket an open-loop point.
closed_max() {
  taskset -c "$gen_cores" "$cube" bench lookup --raw --address "$1" --protocol "$2" --dict bench --key-range 1000000 --batch 100 \
    --connections "$connections" --pipeline "$pipeline" --duration "$bracket" --warmup 1 \
    | awk -F'[()]' '/^requests/ {split($2, a, " "); printf "%d", a[1]}'
}

start_cube() { # $1 port; the data port, the RESP port is $1 + 2
  taskset -c 0 "$cube" run --roles server --bind 127.0.0.1 --port "$1" --http-port $(($1 + 1)) --resp-port $(($1 + 2)) ${CUBE_SERVER_ARGS:-} \
    --data-dir "$work/packages" --dict bench >"$work/server.log" 2>&1 &
  server=$!; pids+=("$server")
  for _ in $(seq 100); do grep -q "ready:" "$work/server.log" && return; sleep 0.1; done
  echo "cube server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
start_redis() { # $1 port
  taskset -c 0 redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "$work/redis.log" &
  server=$!; pids+=("$server")
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && break; sleep 0.1; done
  python3 "$root/bench/redis-load.py" "$work/table.txt" | redis-cli -p "$1" --pipe | tail -1
}

stalls_txt="${out_tsv%.tsv}-stalls.txt"
measure_stalls() { # $1: when
  echo "== $1: what a busy thread on each core loses (cube bench stalls --cpus 0,$gen_cores --duration $stalls)" | tee -a "$stalls_txt"
  "$cube" bench stalls --cpus "0,$gen_cores" --duration "$stalls" | tee -a "$stalls_txt" | sed 's/^/   /'
}
: > "$stalls_txt"
measure_stalls "before the curves"

IFS=, read -ra server_list <<< "$servers"
IFS=, read -ra load_list <<< "$loads"
for name in "${server_list[@]}"; do
  port=$((20000 + RANDOM % 20000))
  case "$name" in
    cube) start_cube "$port"; address="127.0.0.1:$port"; protocol=native ;;
    cube-resp) start_cube "$port"; address="127.0.0.1:$((port + 2))"; protocol=resp ;;
    redis) start_redis "$port"; address="127.0.0.1:$port"; protocol=resp ;;
    *) echo "unknown server $name (cube, cube-resp, redis)" >&2; exit 2 ;;
  esac
  echo "== $name ($address, $protocol): closed loop, $connections connections × $pipeline in flight"
  read -r max p50 p99 p999 pmax scpu gcpu per_core <<< "$(measure "$server" "$address" "$protocol" --pipeline "$pipeline")"
  echo "   max $max requests/s, server CPU $scpu, generator CPU $gcpu, $per_core keys/s per server core, p99 $p99 us"
  printf '%s\t100\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\n' "$name" "closed" "$max" "$p50" "$p99" "$p999" "$pmax" "$scpu" "$gcpu" "$per_core" >> "$out_tsv"

  # A second generator beside the first: together they should get no more than one alone.
  c0=$(cpu_ticks "$server"); t0=$(date +%s.%N)
  gens=()
  for g in 1 2; do
    taskset -c "$gen_cores" "$cube" bench lookup --raw --address "$address" --protocol "$protocol" --dict bench --key-range 1000000 --batch 100 \
      --connections "$connections" --pipeline "$pipeline" --duration "$duration" --warmup 1 --seed "$g" > "$work/two.$g" &
    gens+=($!)
  done
  wait "${gens[@]}"
  t1=$(date +%s.%N); c1=$(cpu_ticks "$server")
  two=$(cat "$work/two.1" "$work/two.2" | awk -F'[()]' '/^requests/ {split($2, a, " "); s += a[1]} END {printf "%.0f", s}')
  two_cpu=$(python3 -c "print(f'{($c1 - $c0) / $hz / ($t1 - $t0):.2f}')")
  echo "   two generators together: $two requests/s (one alone: $max), server CPU $two_cpu"
  printf '%s\t100\t%s\t%s\t-\t-\t-\t-\t%s\t-\t-\t-\t-\t-\n' "$name" "two-generators" "$two" "$two_cpu" >> "$out_tsv"

  for pct in "${load_list[@]}"; do
    # --repeat runs of the point, each between two closed-loop maxima (these machines drift); the
    # run with the median p99 is kept. Its rate is pct % of the maximum measured just before it.
    : > "$work/point"
    for _ in $(seq "$repeat"); do
      before=$(closed_max "$address" "$protocol")
      rate=$((before * pct / 100))
      result=$(measure "$server" "$address" "$protocol" --rate "$rate") || exit 1
      after=$(closed_max "$address" "$protocol")
      echo "$result $rate $before $after" >> "$work/point"
    done
    if grep -q overload "$work/point"; then
      echo "   $pct %: OVERLOAD in $(grep -c overload "$work/point") of $repeat runs (fell 65536 requests behind; maxima before/after: $(awk '{print $(NF-1) "/" $NF}' "$work/point" | paste -sd' '))"
      printf '%s\t%s\t%s\toverload\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "$pct" "$(awk '{print $(NF-2)}' "$work/point" | sort -n | sed -n "$(( (repeat + 1) / 2 ))p")" >> "$out_tsv"
      continue
    fi
    read -r got p50 p99 p999 pmax scpu gcpu per_core rate before after <<< "$(sort -n -k3 "$work/point" | sed -n "$(( (repeat + 1) / 2 ))p")"
    realized=$(python3 -c "print(f'{$got * 200 / ($before + $after):.0f}')")
    echo "   $pct % of $before = $rate requests/s (max after: $after; really $realized %): p50 $p50 us  p99 $p99 us  p99.9 $p999 us  (server CPU $scpu, generator CPU $gcpu; p99 of the runs: $(awk '{print $3}' "$work/point" | paste -sd/))"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$pct" "$rate" "$got" "$p50" "$p99" "$p999" "$pmax" "$scpu" "$gcpu" "$per_core" "$before" "$after" "$realized" >> "$out_tsv"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
done

measure_stalls "after the curves"
column -t "$out_tsv"
python3 - "$out_tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
per_core = {r["server"]: float(r["keys_per_core_s"]) for r in rows if r["offered_rps"] == "closed"}
if "cube" in per_core and "redis" in per_core:
    print(f"keys/s per server core at the maximum: cube {per_core['cube']/1e6:.2f} M, redis {per_core['redis']/1e6:.2f} M: {per_core['cube']/per_core['redis']:.1f}x")
if "cube-resp" in per_core and "redis" in per_core:
    print(f"cube RESP / redis: {per_core['cube-resp']/per_core['redis']:.1f}x (the same MGET bytes)")
PY
py=$("$root/bench/plot-python.sh")
"$py" "$root/bench/plot.py" latency "$out_tsv" "${out_tsv%.tsv}.png" && echo "plot: ${out_tsv%.tsv}.png"
