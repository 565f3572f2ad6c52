#!/usr/bin/env bash
# Flood run: one server on 127.0.0.1 with a 100,000-key table, flooded by
# bench/flood.py (10,000 idle connections, as many as one address can hold, 200 slow-loris HTTP
# clients, 60 MiB frames back to back) while a good client pings it from another address.
# usage: bench/flood.sh [CUBE_BINARY] [extra server flags…]     (default: scripts/publish.sh's binary)
# Compare two binaries in one session: bench/flood.sh /tmp/old/cube; bench/flood.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-}
[ -n "$bin" ] && shift || bin=$("$root/scripts/publish.sh")
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
"$bin" kv gen --keys 100000 --out "$work/t.txt" >/dev/null
"$bin" kv from-text "$work/t.txt" "$work/in" --id 100 >/dev/null
"$bin" build --input "$work/in/100/base" --output "$work/pk" --dict emb --shards 1 --version 100 >/dev/null 2>&1
port=$((20000 + RANDOM % 10000)); http=$((port + 1))
"$bin" run --roles server --bind 127.0.0.1 --port "$port" --http-port "$http" --data-dir "$work/pk" --dict emb --shard 0 "$@" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/status" >/dev/null && break; sleep 0.1; done
echo "binary: $bin ($("$bin" version))"
python3 "$root/bench/flood.py" --pid "$pid" --port "$port" --http-port "$http" --seconds "${FLOOD_SECONDS:-8}"
kill -0 "$pid" && echo "server still up" || { echo "server died"; tail -5 "$work/server.log"; }
