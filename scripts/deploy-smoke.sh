#!/usr/bin/env bash
# docs/deploy.md followed literally on one machine: the same files and commands, with the hosts of
# the doc replaced by 127.0.0.1 ports and /etc, /var/lib by a scratch directory (systemd units by
# their ExecStartPre/ExecStart lines, run in the background). Sections:
#   2  the token (the doc's command)              3  four serving hosts: server+agent, --check first
#   4  transfer.conf (the doc's, value_codec f32), --check, the transfer, its status paths
#   5  a trainer publishes (cube train: SequenceFiles + donefile line + model package), then a patch;
#      rollback, pin, unpin
#   6  cube.conf from `cube conf client --from transfer.conf`, --check, the engine, cube predict
#   cube status over the whole cluster
# Exit 0 when every step did what the doc says; otherwise the step that did not and its log.
# Usage: [CUBE_BIN=path] scripts/deploy-smoke.sh [--keep DIR]
set -Eeuo pipefail   # -E: the ERR trap below also names a failure inside a function
root=$(cd "$(dirname "$0")/.." && pwd)
cube=$(realpath "${CUBE_BIN:-$("$root/scripts/publish.sh")}")
work=$(mktemp -d /tmp/cube-deploy-smoke.XXXXXX)
keep=""
[ "${1:-}" = "--keep" ] && keep=${2:-}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -z "$keep" ] && rm -rf "$work"; }
trap cleanup EXIT
# A command that fails outside fail() still names itself (set -e would end the script silently).
trap 'echo "deploy-smoke: FAILED: line $LINENO exited $?: $BASH_COMMAND" >&2' ERR
step() { echo "== $*"; }
fail() { echo "deploy-smoke: FAILED: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done; exit 1; }
wait_for() { local what=$1; shift; for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; fail "$what"; }
cd "$work"
mkdir -p etc/cube lib
base=$((20000 + RANDOM % 12000))   # below the ephemeral range (32768+), where port-0 listeners land
transfer_port=$((base + 99)); engine_port=$((base + 90))

step "2. one secret for the control plane"
head -c 32 /dev/urandom | base64 -w0 > token && cp token etc/cube/token
chmod 600 etc/cube/token

step "3. serving hosts: 2 shards × 2 replicas of server+agent (cube-node.service), --check first"
agents=""
i=0
for s in 0 1; do for r in 0 1; do
  port=$((base + i)); http=$((base + 10 + i))
  args=(--roles server,agent --port "$port" --http-port "$http" --data-dir "lib/node$s$r" --dict emb --shard "$s" --in_mem true --transfer "http://127.0.0.1:$transfer_port" --token-file etc/cube/token --bind 127.0.0.1)
  mkdir -p "lib/node$s$r"
  "$cube" run --check "${args[@]}" > "check-node$s$r.log" 2>&1 || fail "cube run --check for node $s$r"
  "$cube" run "${args[@]}" > "node$s$r.log" 2>&1 &
  pids+=("$!")
  agents="$agents
agent${s}_$r: 127.0.0.1:$http
cube${s}_$r: 127.0.0.1:$port:$work/lib/node$s$r"
  i=$((i + 1))
done; done
for i in 0 1 2 3; do wait_for "node $i /status" curl -sf "127.0.0.1:$((base + 10 + i))/status"; done
curl -sf "127.0.0.1:$((base + 10))/metrics" | grep -q '^cube_server_' || fail "node /metrics"

step "4. the transfer (the doc's transfer.conf, local donefile directory)"
mkdir -p lib/transfer/output lib/transfer/tmp lib/donefile
cat > etc/cube/transfer.conf <<EOF
[default]
dict_name: emb
mode: base_delta                    # base_only: follow base.txt only
donefile_address: $work/lib/donefile
output_address: $work/lib/transfer/output
tmp_address: $work/lib/transfer/tmp
shard_num: 2
copy_num: 2
value_codec: f32
token_file: $work/etc/cube/token
poll_seconds: 10
down_policy: skip
max_attempts: 5
parallelism: 8
serve_bytes_per_second: 0
retain_lineages: 2
fetch_timeout_seconds: 30

[cube_agent]$agents
EOF
"$cube" run --check --roles transfer --http-port "$transfer_port" --config etc/cube/transfer.conf --token-file etc/cube/token --bind 127.0.0.1 > check-transfer.log 2>&1 || fail "cube run --check --roles transfer"
"$cube" run --roles transfer --http-port "$transfer_port" --config etc/cube/transfer.conf --token-file etc/cube/token --bind 127.0.0.1 > transfer.log 2>&1 &
pids+=("$!")
wait_for "transfer /status" curl -sf "127.0.0.1:$transfer_port/status"
for path in dict/info instance/status dict/deploy/history; do curl -sf "127.0.0.1:$transfer_port/$path" > /dev/null || fail "GET /$path"; done

step "5. a trainer publishes a base (cube train), then a patch"
"$cube" gen-data --rows 6000 --seed 3 --out train.tsv > gen.log 2>&1 || fail "cube gen-data"
"$cube" train --data train.tsv --out trained --epochs 1 --dict emb --hidden 32,32 > train.log 2>&1 || fail "cube train"
cat trained/donefile/base.txt >> lib/donefile/base.txt
base_id=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' trained/donefile/base.txt)
wait_for "base $base_id live on every replica" sh -c "curl -s 127.0.0.1:$transfer_port/status | grep -q '\"current_version\": \"${base_id}_${base_id}\"'"
"$cube" train --data train.tsv --out trained --epochs 1 --dict emb --hidden 32,32 --delta > train-delta.log 2>&1 || fail "cube train --delta"
patch_line=$(tail -1 trained/donefile/patch.txt)
echo "$patch_line" >> lib/donefile/patch.txt
patch_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$patch_line")
wait_for "patch $patch_id live" sh -c "curl -s 127.0.0.1:$transfer_port/status | grep -q '\"current_version\": \"${base_id}_${patch_id}\"'"

step "5. rolling back, pinning, unpinning"
"$cube" transfer rollback --transfer "http://127.0.0.1:$transfer_port" --token-file etc/cube/token > rollback.log 2>&1 || fail "cube transfer rollback"
wait_for "rolled back to the base" sh -c "curl -s 127.0.0.1:$transfer_port/status | grep -q '\"current_version\": \"${base_id}_${base_id}\"'"
"$cube" transfer pin --transfer "http://127.0.0.1:$transfer_port" --token-file etc/cube/token > pin.log 2>&1 || fail "cube transfer pin"
"$cube" transfer unpin --transfer "http://127.0.0.1:$transfer_port" --token-file etc/cube/token > unpin.log 2>&1 || fail "cube transfer unpin"
wait_for "rolled forward to the patch" sh -c "curl -s 127.0.0.1:$transfer_port/status | grep -q '\"current_version\": \"${base_id}_${patch_id}\"'"

step "6. engines: cube.conf from transfer.conf, --check, the engine, cube predict"
"$cube" conf client --from etc/cube/transfer.conf --out etc/cube/cube.conf > conf.log 2>&1 || fail "cube conf client"
mkdir -p lib/engine && cp -r trained/model lib/engine/model
"$cube" run --check --roles engine --http-port "$engine_port" --model lib/engine/model --conf etc/cube/cube.conf --bind 127.0.0.1 > check-engine.log 2>&1 || fail "cube run --check --roles engine"
"$cube" run --roles engine --http-port "$engine_port" --model lib/engine/model --conf etc/cube/cube.conf --bind 127.0.0.1 > engine.log 2>&1 &
pids+=("$!")
wait_for "engine ready" curl -sf "127.0.0.1:$engine_port/v2/health/ready"
tail -n 500 train.tsv > heldout.txt
"$cube" predict --engine "127.0.0.1:$engine_port" --data heldout.txt > predict.log 2>&1 || fail "cube predict"
grep -q "refused 0" predict.log || fail "cube predict refused samples"
grep "^AUC" predict.log

step "cube status over the whole cluster"
"$cube" status --config etc/cube/transfer.conf --transfer "http://127.0.0.1:$transfer_port" --engines "127.0.0.1:$engine_port" > status.log 2>&1 || fail "cube status (exit $?)"
grep -q "4/4 replicas up, 0 behind, 0 down; 1/1 engines ready" status.log || fail "cube status table"
tail -1 status.log
echo "deploy-smoke: every step of docs/deploy.md worked"
