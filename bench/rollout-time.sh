#!/usr/bin/env bash
# Time from appending a donefile line to every shard serving the version, for a table of N keys
# with 40-byte values, 2 shards × 2 replicas (server+agent processes) and a transfer on this machine,
# with the share spent building, staging (download + verify) and activating, from the transfer's
# own /dict/deploy/history.
# Usage: bench/rollout-time.sh [--keys 1000000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
keys=1000000
[ "${1:-}" = "--keys" ] && keys=$2
work=$(mktemp -d /tmp/cube-rollout.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cube=$("$root/scripts/publish.sh")
cd "$work"
echo "== input: $keys keys, 40-byte values"
"$cube" kv gen --keys "$keys" --key-range $((keys * 4)) --dim 10 --out table.txt >/dev/null
"$cube" kv from-text table.txt data --id 100 --parts 8 >/dev/null
rm table.txt
mkdir -p done
head -c 32 /dev/urandom | base64 > token
base=$((30000 + RANDOM % 20000))
conf="[default]
dict_name: emb
mode: base_delta
donefile_address: $work/done
output_address: $work/output
tmp_address: $work/tmp
shard_num: 2
copy_num: 2
token_file: $work/token
poll_seconds: 1

[cube_agent]"
i=0
for s in 0 1; do for r in 0 1; do
  "$cube" run --roles server,agent --bind 127.0.0.1 --port $((base + i)) --http-port $((base + 10 + i)) --data-dir "agent$s$r" --dict emb --shard $s \
    --transfer "http://127.0.0.1:$((base + 99))" --token-file token >"agent$s$r.log" 2>&1 &
  pids+=("$!")
  conf="$conf
agent${s}_$r: 127.0.0.1:$((base + 10 + i))"
  i=$((i + 1))
done; done
echo "$conf" > transfer.conf
"$cube" run --roles transfer --bind 127.0.0.1 --http-port $((base + 99)) --config transfer.conf >transfer.log 2>&1 &
pids+=("$!")
sleep 1
echo "== append the donefile line and wait until every shard serves 100"
start=$(date +%s.%N)
grep -h . data/donefile/base.txt >> done/base.txt
until curl -s "127.0.0.1:$((base + 99))/status" | grep -q '"current_version": "100_100"'; do sleep 0.05; done
end=$(date +%s.%N)
curl -s "127.0.0.1:$((base + 99))/dict/deploy/history" > history.json
python3 - "$start" "$end" <<'PY'
import json, sys
start, end = float(sys.argv[1]), float(sys.argv[2])
v = json.load(open("history.json"))["data"][-1]
total = end - start
b, s, a = v["build_seconds"], v["stage_seconds"], v["activate_seconds"]
rest = max(0.0, total - b - s - a)
print(f"donefile line → all 4 replicas active: {total:.2f} s")
for name, t in (("build", b), ("transfer (stage: download + verify)", s), ("activate", a), ("poll wait + bookkeeping", rest)):
    print(f"  {name:38s} {t:7.2f} s  {100 * t / total:5.1f} %")
PY
du -sh output | awk '{print "packages built: " $1}'
