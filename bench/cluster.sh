# Sourced by the bench scripts that need a whole deployment on this machine: in the current
# directory, a transfer and SHARDS × COPIES server+agent processes on 127.0.0.1, the agents
# serving from ./agentSR (shard S, replica R), the donefile directory ./done, a fresh ./token.
#   start_cluster CUBE BASE_PORT SHARDS COPIES [AGENT_ARG …]
# Ports: data BASE_PORT + i, HTTP BASE_PORT + 10 + i (i = S × COPIES + R), the transfer's HTTP
# BASE_PORT + 99. Appends every process to the caller's `pids` array (for its cleanup) and the
# server+agent processes to `servers`, in the order of i.
start_cluster() {
  local cube=$1 base=$2 shards=$3 copies=$4
  shift 4
  mkdir -p done
  head -c 32 /dev/urandom | base64 -w0 > token
  local conf="[default]
dict_name: emb
mode: base_delta
donefile_address: $PWD/done
output_address: $PWD/output
tmp_address: $PWD/tmp
shard_num: $shards
copy_num: $copies
token_file: $PWD/token
poll_seconds: 1

[cube_agent]"
  local i=0 s r
  for s in $(seq 0 $((shards - 1))); do for r in $(seq 0 $((copies - 1))); do
    "$cube" run --roles server,agent --bind 127.0.0.1 --port $((base + i)) --http-port $((base + 10 + i)) --data-dir "agent$s$r" --dict emb --shard "$s" \
      --transfer "http://127.0.0.1:$((base + 99))" --token-file token "$@" >"agent$s$r.log" 2>&1 &
    pids+=("$!"); servers+=("$!")
    conf="$conf
agent${s}_$r: 127.0.0.1:$((base + 10 + i))"
    i=$((i + 1))
  done; done
  echo "$conf" > transfer.conf
  "$cube" run --roles transfer --bind 127.0.0.1 --http-port $((base + 99)) --config transfer.conf >transfer.log 2>&1 &
  pids+=("$!")
  sleep 1
}
