#!/usr/bin/env bash
# Soak: a whole cluster on this machine under mixed normal load for --minutes, sampling every
# process's RSS, open file descriptors, native blocks in use and managed heap every 10 s.
#   2 shards × 1 replica of server+agent (each with a --resp-port), a transfer, an engine reading
#   the shards over the network; a base of the engine fixture's table (every key of the Criteo
#   sample, 40-byte rows), then a patch of 10,000 rows published every --rollout-seconds.
#   Load, all open loop and bounded: native lookups (cube bench lookup, 200 req/s of 100 keys),
#   RESP MGETs to one shard (200 req/s), OIP infer (cube predict --protocol oip, batch 32, in a loop).
# Output: DIR/soak.tsv (time_s, process, rss_mb, fds, native_in_use, native_cached_mb, gc_heap_mb)
# and DIR/soak.png; a summary of first vs last hour-share per process on stdout.
# Usage: [CUBE_BIN=path] bench/soak.sh [--minutes 30] [--rollout-seconds 60] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=30; every=60; out=$root/docs/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rollout-seconds) every=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--minutes M] [--rollout-seconds S] [--out DIR]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/cube-soak.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cube=${CUBE_BIN:-$("$root/scripts/publish.sh")}
mkdir -p "$out"
cd "$work"
dotnet run -c Release --project "$root/bench/Appliance.Bench" -- engine-fixture --out "$work/fixture" >/dev/null
mkdir -p done
head -c 32 /dev/urandom | base64 -w0 > token
base=$((30000 + RANDOM % 20000))
conf="[default]
dict_name: emb
mode: base_delta
donefile_address: $work/done
output_address: $work/output
tmp_address: $work/tmp
shard_num: 2
copy_num: 1
value_codec: f32
token_file: $work/token
poll_seconds: 5

[cube_agent]"
names=()
for s in 0 1; do
  "$cube" run --roles server,agent --bind 127.0.0.1 --port $((base + s)) --http-port $((base + 10 + s)) --resp-port $((base + 20 + s)) \
    --data-dir "agent$s" --dict emb --shard $s --transfer "http://127.0.0.1:$((base + 99))" --token-file token >"agent$s.log" 2>&1 &
  pids+=("$!"); names+=("server+agent$s:$!:$((base + 10 + s))")
  conf="$conf
agent${s}_0: 127.0.0.1:$((base + 10 + s))
cube${s}_0: 127.0.0.1:$((base + s)):$work/agent$s"
done
echo "$conf" > transfer.conf
"$cube" run --roles transfer --bind 127.0.0.1 --http-port $((base + 99)) --config transfer.conf >transfer.log 2>&1 &
pids+=("$!"); names+=("transfer:$!:$((base + 99))")
"$cube" conf client --from transfer.conf --out cube.conf >/dev/null
echo "{\"id\": \"100\", \"key\": \"100\", \"input\": \"$work/fixture/input\"}" >> done/base.txt
until curl -s "127.0.0.1:$((base + 99))/status" | grep -q '"current_version": "100_100"'; do sleep 0.5; done
"$cube" run --roles engine --bind 127.0.0.1 --http-port $((base + 30)) --model "$work/fixture/model" --conf cube.conf >engine.log 2>&1 &
pids+=("$!"); names+=("engine:$!:$((base + 30))")
until curl -sf "127.0.0.1:$((base + 30))/v2/health/ready" >/dev/null; do sleep 0.5; done
echo "cluster up (transfer :$((base + 99)), engine :$((base + 30))); soaking for $minutes min, a patch every $every s"

seconds=$((minutes * 60))
"$cube" bench lookup --conf cube.conf --key-range 10000 --rate 200 --duration "$seconds" --warmup 0 >native.log 2>&1 &
pids+=("$!")
"$cube" bench lookup --raw --address "127.0.0.1:$((base + 20))" --protocol resp --key-range 10000 --rate 200 --duration "$seconds" --warmup 0 >resp.log 2>&1 &
pids+=("$!")
( end=$((SECONDS + seconds)); while [ $SECONDS -lt $end ]; do
    "$cube" predict --engine "127.0.0.1:$((base + 30))" --protocol oip --data "$root/tests/data/criteo-sample-1000.txt" --batch 32 --connections 1 >>oip.log 2>&1 || true
    sleep 1
  done ) &
pids+=("$!")
( id=101; end=$((SECONDS + seconds)); while [ $SECONDS -lt $end ]; do
    sleep "$every"
    "$cube" kv gen --format seq --keys 10000 --key-scheme index --seed "$id" --parts 1 --out "$work/patch/$id" >/dev/null
    echo "{\"id\": \"$id\", \"key\": \"100\", \"input\": \"$work/patch/$id\"}" >> done/patch.txt
    id=$((id + 1))
  done ) &
pids+=("$!")

python3 - "$seconds" "$out/soak.tsv" "${names[@]}" <<'PY'
import json, os, re, sys, time, urllib.request
seconds, tsv, procs = int(sys.argv[1]), sys.argv[2], [p.split(":") for p in sys.argv[3:]]
def metrics(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
with open(tsv, "w") as f:
    f.write("time_s\tprocess\trss_mb\tfds\tnative_in_use\tnative_cached_mb\tgc_heap_mb\n")
    start = time.time()
    while time.time() - start < seconds:
        now = round(time.time() - start)
        for name, pid, port in procs:
            try:
                rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1)) / 1024
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                rss, fds = float("nan"), -1
            m = metrics(port)
            in_use = m.get('cube_native_blocks{state="in_use"}', -1)
            cached = m.get('cube_native_block_bytes{state="cached"}', 0) / 1e6
            heap = m.get("dotnet_gc_heap_bytes", 0) / 1e6
            f.write(f"{now}\t{name}\t{rss:.1f}\t{fds}\t{in_use:.0f}\t{cached:.1f}\t{heap:.1f}\n")
        f.flush()
        time.sleep(10)
PY
echo "== versions live: $(curl -s "127.0.0.1:$((base + 99))/status" | grep -o '"current_version": "[^"]*"')"
echo "== rollouts: $(grep -c 'is active on every shard' transfer.log) finished, $(grep -c ' failed, ' transfer.log || true) failed"
echo "== native lookups:"; tail -3 native.log
echo "== RESP MGETs:"; tail -3 resp.log
echo "== OIP runs: $(grep -c '^QPS' oip.log || true), refused samples: $(grep -o 'refused [0-9]*' oip.log | awk '{s+=$2} END {print s+0}')"
python3 - "$out/soak.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault(r["process"], []).append(r)
print(f"{'process':<18} {'RSS first→last (MB)':>22} {'fds first→last':>16} {'native in use max':>18} {'GC heap first→last (MB)':>24}")
for p, rs in by.items():
    q = max(1, len(rs) // 10)  # the first and last tenth, averaged: one sample is noise
    avg = lambda part, k: sum(float(x[k]) for x in part) / len(part)
    print(f"{p:<18} {avg(rs[q:2*q], 'rss_mb'):>10.0f} → {avg(rs[-q:], 'rss_mb'):<9.0f} {avg(rs[q:2*q], 'fds'):>7.0f} → {avg(rs[-q:], 'fds'):<6.0f} {max(float(x['native_in_use']) for x in rs):>18.0f} {avg(rs[q:2*q], 'gc_heap_mb'):>11.0f} → {avg(rs[-q:], 'gc_heap_mb'):<9.0f}")
PY
py=$("$root/bench/plot-python.sh")
"$py" "$root/bench/plot.py" soak "$out/soak.tsv" "$out/soak.png" && echo "plot: $out/soak.png"
