#!/usr/bin/env bash
# The engine over HTTP, end to end: a 1M-key table (2 local shards), the 273→400→400→400→2 model,
# the 1000 real Criteo lines scored by cube predict at batch 1, 32 and 256. The engine is pinned
# to core 0, cube predict to core 1; prints QPS and per-request latency percentiles for each batch.
# Usage: bench/engine-http.sh [--connections C]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
connections=${2:-4}
work=$(mktemp -d /tmp/cube-engine-http.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cube=$("$root/scripts/publish.sh")
dotnet run -c Release --project "$root/bench/Appliance.Bench" -- engine-fixture --out "$work" >/dev/null
"$cube" build --input "$work/input" --output "$work/packages" --dict emb --shards 2 --version 1 --value-codec f32 >/dev/null 2>&1
port=$((30000 + RANDOM % 2000))
taskset -c 0 "$cube" run --roles engine --bind 127.0.0.1 --http-port "$port" --model "$work/model" --local --data-dir "$work/packages" ${ENGINE_ARGS:-} >"$work/engine.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "ready:" "$work/engine.log" && break; sleep 0.1; done
data="$root/tests/data/criteo-sample-1000.txt"
for _ in 1 2 3 4 5; do cat "$data"; done > "$work/data.txt"   # 5000 lines
for batch in 1 32 256; do
  echo "== batch $batch, $connections connection(s)"
  taskset -c 1 "$cube" predict --engine "127.0.0.1:$port" --data "$work/data.txt" --batch "$batch" --connections "$connections" | tail -2
done
curl -s "127.0.0.1:$port/status" | grep -E '"mean_(batch|request)"'
