#!/usr/bin/env bash
# Trains the CTR-DNN with PyTorch's torch.distributed (deploy/k8s/scripts/train_torch.py): the
# embedding table sharded by row across the processes (key % N), the dense network data-parallel,
# exported per docs/export-contract.md (SequenceFiles, donefile line, model package, holdout.tsv and
# holdout.predictions), ready for the transfer or `cube build`.
# Usage: scripts/train-torch.sh --procs N --data FILE --out DIR [--epochs E] [--delta]
#        [--hash paddle|xxh64] [--batch B --lr R --sparse-lr R --holdout F --seed S --dict NAME]
# Several machines: the same command on each, with NNODES, NODE_RANK and MASTER_ADDR (and
# MASTER_PORT) in the environment: they are torch.distributed.run's --nnodes, --node_rank,
# --master_addr and --master_port. Needs Debian's python3-torch (scripts/setup.sh installs it).
# On one machine the processes talk over loopback only (GLOO_SOCKET_IFNAME=lo unless set).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
procs=1; args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --procs) procs=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ "$procs" =~ ^[1-9][0-9]*$ ]] || { echo "train-torch.sh: --procs must be a positive integer, not '$procs'" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "train-torch.sh: python3-torch is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
gloo_if=${GLOO_SOCKET_IFNAME:-}
if [ "${NNODES:-1}" = 1 ] && [ -z "$gloo_if" ]; then gloo_if=lo; fi
# --redirects/--tee 2 (stderr): with Python 3.11, Debian's torch 1.13 cannot parse the default 0 for these.
exec env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ${gloo_if:+GLOO_SOCKET_IFNAME=$gloo_if} /usr/bin/python3 -m torch.distributed.run \
  --nproc_per_node "$procs" --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-$((29500 + RANDOM % 2000))}" \
  --redirects 2 --tee 2 "$root/deploy/k8s/scripts/train_torch.py" "${args[@]}"
