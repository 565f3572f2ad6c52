#!/usr/bin/env bash
# The engine over HTTP, end to end: a 1M-key table (2 local shards), the 273→400→400→400→2 model,
# the 1000 real Criteo lines scored by cube predict at batch 1, 32 and 256, through POST /predict
# and (batch 32 and 256) the Open Inference Protocol, JSON, binary and over gRPC (raw tensors). The engine is pinned to
# core 0, cube predict to core 1; prints QPS and per-request latency percentiles for each run.
# Beside them, the baseline: the same lines scored by `cube predict --in-process` (the engine's
# code, one thread, no HTTP) on core 0. Each (batch, protocol) runs --repeat times over --lines
# lines, alternated with the baseline; the summary is the median QPS and its ratio to both.
# Usage: [CUBE_BIN=path] bench/engine-http.sh [--connections C] [--lines N] [--repeat R]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
connections=4; total=50000; repeat=3
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --lines) total=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "usage: $0 [--connections C] [--lines N] [--repeat R]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/cube-engine-http.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}
dotnet run -c Release --project "$root/bench/Appliance.Bench" -- engine-fixture --out "$work" >/dev/null
"$cube" build --input "$work/input" --output "$work/packages" --dict emb --shards 2 --version 1 --value-codec f32 >/dev/null 2>&1
port=$((30000 + RANDOM % 2000)); grpc_port=$((port + 2000))
taskset -c 0 "$cube" run --roles engine --bind 127.0.0.1 --http-port "$port" --grpc-port "$grpc_port" --model "$work/model" --local --data-dir "$work/packages" ${ENGINE_ARGS:-} >"$work/engine.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "ready:" "$work/engine.log" && break; sleep 0.1; done
data="$root/tests/data/criteo-sample-1000.txt"
for _ in $(seq $(( (total + 999) / 1000 ))); do cat "$data"; done | head -n "$total" > "$work/data.txt"
: > "$work/qps.tsv"
for round in $(seq "$repeat"); do
  for batch in 1 32 256; do
    echo "== round $round, batch $batch, in process (core 0)"
    taskset -c 0 "$cube" predict --in-process --model-dir "$work/model" --data-dir "$work/packages" --data "$work/data.txt" --batch "$batch" | tail -2 | tee "$work/run.txt"
    printf "%s\t%s\t%s\n" "$batch" "in-process" "$(awk '/^QPS/ {print $2}' "$work/run.txt")" >> "$work/qps.tsv"
    for protocol in predict oip oip-binary grpc; do
      [ "$batch" = 1 ] && [ "$protocol" != predict ] && continue
      address="127.0.0.1:$port"; [ "$protocol" = grpc ] && address="127.0.0.1:$grpc_port"
      echo "== round $round, batch $batch, $connections connection(s), $protocol"
      taskset -c 1 "$cube" predict --engine "$address" --data "$work/data.txt" --batch "$batch" --connections "$connections" --protocol "$protocol" | tail -2 | tee "$work/run.txt"
      printf "%s\t%s\t%s\n" "$batch" "$protocol" "$(awk '/^QPS/ {print $2}' "$work/run.txt")" >> "$work/qps.tsv"
    done
  done
done
echo
echo "| batch | protocol | samples/s (median of $repeat) | vs /predict | vs in process | vs OIP binary |"
echo "|---:|---|---:|---:|---:|---:|"
python3 - "$work/qps.tsv" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    batch, protocol, qps = line.split()
    runs.setdefault((int(batch), protocol), []).append(float(qps))
order = ["in-process", "predict", "oip", "oip-binary", "grpc"]
for (batch, protocol), values in sorted(runs.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
    median = statistics.median(values)
    base = statistics.median(runs[(batch, "predict")])
    local = statistics.median(runs[(batch, "in-process")])
    binary = runs.get((batch, "oip-binary"))
    versus = f"{median / statistics.median(binary):.2f}" if binary else "-"
    print(f"| {batch} | {protocol} | {median:,.0f} | {median / base:.2f} | {median / local:.2f} | {versus} |")
PY
curl -s "127.0.0.1:$port/status" | grep -E '"mean_(batch|request)"'
