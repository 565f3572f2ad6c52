#!/usr/bin/env bash
# Time from appending a donefile line to every shard serving the version, for a table of N keys
# with 40-byte values, 2 shards × 2 replicas (server+agent processes) and a transfer on this machine,
# with the share spent building, staging (download + verify) and activating, from the transfer's
# own /dict/deploy/history; then the same for a delta holding --delta-pct % of the keys (new
# values for existing keys).
# Input: SequenceFiles (`cube kv gen --format seq --key-scheme index`, 8 parts) with a donefile
# line as kv_to_seqfile.py writes it. CUBE_BIN=/path/to/cube measures another build;
# AGENT_ARGS="--in_mem false" serves mapped packages (four replicas of a 100M-key table loaded
# into memory do not fit beside the build on a 24 GiB machine).
# Usage: bench/rollout-time.sh [--keys 1000000] [--delta-pct 1]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
keys=1000000; delta_pct=1
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;;
    --delta-pct) delta_pct=$2; shift 2 ;;
    *) echo "usage: $0 [--keys N] [--delta-pct P]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/cube-rollout.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}
cd "$work"
delta_keys=$((keys * delta_pct / 100))
echo "== input: $keys keys, 40-byte values; a delta of $delta_keys of them with new values"
mkdir -p data/donefile
"$cube" kv gen --format seq --keys "$keys" --key-scheme index --seed 1 --parts 8 --out "$work/data/100/base" >/dev/null
echo "{\"id\": \"100\", \"key\": \"100\", \"input\": \"$work/data/100/base\"}" > data/donefile/base.txt
# Rows 0..delta_keys-1 again (the same keys), other values (another seed).
"$cube" kv gen --format seq --keys "$delta_keys" --key-scheme index --seed 2 --parts 8 --out "$work/data/101/patch" >/dev/null
echo "{\"id\": \"101\", \"key\": \"100\", \"input\": \"$work/data/101/patch\"}" > data/donefile/patch.txt
base=$((30000 + RANDOM % 20000))
servers=()
# shellcheck source=bench/cluster.sh
. "$root/bench/cluster.sh"
# shellcheck disable=SC2086 # AGENT_ARGS is a list of arguments
start_cluster "$cube" "$base" 2 2 ${AGENT_ARGS:-}
# $1 donefile (base.txt or patch.txt), $2 version every shard must serve, $3 label.
rollout() {
  echo "== append the $1 line and wait until every shard serves $2"
  local start end
  start=$(date +%s.%N)
  grep -h . "data/donefile/$1" >> "done/$1"
  until curl -s "127.0.0.1:$((base + 99))/status" | grep -q "\"current_version\": \"$2\""; do sleep 0.05; done
  end=$(date +%s.%N)
  curl -s "127.0.0.1:$((base + 99))/dict/deploy/history" > history.json
  python3 - "$start" "$end" "$3" <<'PY'
import json, sys
start, end, label = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
v = json.load(open("history.json"))["data"][-1]
total = end - start
b, s, a = v["build_seconds"], v["stage_seconds"], v["activate_seconds"]
rest = max(0.0, total - b - s - a)
print(f"{label}: donefile line → all 4 replicas active: {total:.2f} s")
for name, t in (("build", b), ("transfer (stage: download + verify)", s), ("activate", a), ("poll wait + bookkeeping", rest)):
    print(f"  {name:38s} {t:7.2f} s  {100 * t / total:5.1f} %")
PY
}
rollout base.txt 100_100 "base ($keys keys)"
rollout patch.txt 100_101 "delta ($delta_keys keys)"
du -sh output | awk '{print "packages built: " $1}'
