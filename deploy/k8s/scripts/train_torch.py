#!/usr/bin/env python3
"""CTR-DNN on PyTorch's torch.distributed (gloo), exported per docs/export-contract.md.

Started by torch.distributed.run (scripts/train-torch.sh), one process per rank, on one machine or
several (--nnodes, MASTER_ADDR). The embedding table is sharded by row across the ranks, as a
parameter server would hold it: rank r owns the rows of the keys with key % world == r. For every
batch a rank sends the distinct keys it needs to their owners and receives their rows
(all_to_all_single), runs the dense network, and sends each row's gradient back to its owner, who
applies it (Adagrad). The dense network (the same 273 -> 400 -> 400 -> 400 -> 2 as `cube train`) is
data-parallel: DistributedDataParallel averages its gradients (Adam).

Rows are created, uniform in +-0.05, the first time training touches their key; a key training
never touched has no row: it is a zero vector here when predicting, exactly as it is absent (zeros)
from the served table. Every row created is exported, so the trainer's predictions and the served
ones agree (holdout.predictions against what the engine answers for holdout.tsv).

Features are cube_export.features (the engine's own definition: cube features prints the same).
Each export: every rank writes its own rows as SequenceFile parts, rank 0 appends the donefile
line last and writes the model package (torch.onnx.export), holdout.tsv and holdout.predictions.
--delta continues from the checkpoint and exports only the rows updated since the last export, as a
patch of the last base.
"""

import argparse
import io
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cube_export import Exporter, features  # noqa: E402  (one writer, one feature definition)

DIM, SLOTS, DENSE = 10, 26, 13


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="labelled Criteo rows (40 fields); the last --holdout of them are held out")
    p.add_argument("--out", required=True, help="export directory (as cube train's)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--delta", action="store_true", help="continue from the checkpoint; export the rows updated since the last export as a patch")
    p.add_argument("--hash", default="paddle", choices=["paddle", "xxh64"])
    p.add_argument("--dict", default="test_dict")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=64, help="samples per rank per step")
    p.add_argument("--lr", type=float, default=0.001, help="Adam learning rate of the dense layers")
    p.add_argument("--sparse-lr", type=float, default=0.05, help="Adagrad learning rate of the table rows")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


class ShardedRows:
    """The rows this rank owns: values and Adagrad accumulators, indexed by key, grown as needed;
    the keys updated since the last export."""

    def __init__(self, seed):
        self.seed = seed
        self.index = {}
        self.keys = np.zeros(1024, dtype=np.uint64)
        self.values = np.zeros((1024, DIM), dtype=np.float32)
        self.accumulators = np.full((1024, DIM), 0.1, dtype=np.float32)
        self.count = 0
        self.dirty = set()

    def rows(self, keys, create):
        out = np.zeros((len(keys), DIM), dtype=np.float32)
        for i, key in enumerate(keys.tolist()):
            row = self.index.get(key)
            if row is None and create:
                row = self._add(key)
            if row is not None:
                out[i] = self.values[row]
        return out

    def update(self, keys, gradients, lr):
        distinct, inverse = np.unique(keys, return_inverse=True)
        summed = np.zeros((len(distinct), DIM), dtype=np.float32)
        np.add.at(summed, inverse, gradients)
        rows = np.array([self.index[k] for k in distinct.tolist()], dtype=np.int64)
        acc = self.accumulators[rows] + summed * summed
        self.accumulators[rows] = acc
        self.values[rows] -= lr * summed / np.sqrt(acc)
        self.dirty.update(distinct.tolist())

    def items(self, only_dirty):
        keys = sorted(self.dirty) if only_dirty else self.keys[:self.count].tolist()
        return ((int(k), self.values[self.index[k]].tolist()) for k in keys)

    def _add(self, key):
        if self.count == len(self.keys):
            grow = len(self.keys)
            self.keys = np.concatenate([self.keys, np.zeros(grow, dtype=np.uint64)])
            self.values = np.concatenate([self.values, np.zeros((grow, DIM), dtype=np.float32)])
            self.accumulators = np.concatenate([self.accumulators, np.full((grow, DIM), 0.1, dtype=np.float32)])
        row = self.count
        # A function of the key, so a row does not depend on which rank or batch saw it first.
        self.values[row] = np.random.default_rng([key & 0xFFFFFFFF, key >> 32, self.seed]).uniform(-0.05, 0.05, DIM)
        self.keys[row] = key
        self.index[key] = row
        self.count += 1
        return row

    def state(self):
        n = self.count
        return {"keys": self.keys[:n].copy(), "values": self.values[:n].copy(), "accumulators": self.accumulators[:n].copy(), "dirty": sorted(self.dirty)}

    def restore(self, state):
        for i, key in enumerate(state["keys"].tolist()):
            row = self._add(key)
            self.values[row] = state["values"][i]
            self.accumulators[row] = state["accumulators"][i]
        self.dirty = set(state["dirty"])


class Exchange:
    """One batch's rows fetched from their owners (all_to_all_single); the gradients sent back."""

    def __init__(self, keys, rows, world, create):
        self.world = world
        owners = (keys % np.uint64(world)).astype(np.int64)
        self.order = np.argsort(owners, kind="stable")
        self.sent = keys[self.order]
        self.send_counts = np.bincount(owners, minlength=world).tolist()
        counts = torch.empty(world, dtype=torch.int64)
        dist.all_to_all_single(counts, torch.tensor(self.send_counts, dtype=torch.int64))
        self.recv_counts = counts.tolist()
        received = torch.empty(sum(self.recv_counts), dtype=torch.int64)
        dist.all_to_all_single(received, torch.from_numpy(self.sent.view(np.int64)), self.recv_counts, self.send_counts)
        self.received = received.numpy().view(np.uint64)
        answer = torch.from_numpy(rows.rows(self.received, create))
        fetched = torch.empty((len(self.sent), DIM), dtype=torch.float32)
        dist.all_to_all_single(fetched, answer, self.send_counts, self.recv_counts)
        # Rows in the caller's key order.
        self.rows = torch.empty_like(fetched)
        self.rows[torch.from_numpy(self.order)] = fetched

    def send_gradients(self, gradients, rows, lr):
        back = torch.empty((len(self.received), DIM), dtype=torch.float32)
        dist.all_to_all_single(back, gradients[torch.from_numpy(self.order)].contiguous(), self.recv_counts, self.send_counts)
        if len(self.received):
            rows.update(self.received, back.numpy(), lr)


def dense_network():
    layers, width = [], SLOTS * DIM + DENSE
    for out in (400, 400, 400):
        layers += [torch.nn.Linear(width, out), torch.nn.ReLU()]
        width = out
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 2))


class Served(torch.nn.Module):
    """What is exported: embeddings [N, 260] and dense [N, 13] in, softmax [N, 2] out."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, embeddings, dense):
        return torch.softmax(self.net(torch.cat([embeddings, dense], 1)), 1)


def load(path, scheme):
    labels, dense, keys, lines = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                label, d, k = features(line, scheme)
            except ValueError as e:
                sys.exit("%s: line %d: %s" % (path, number, e))
            if label is None:
                sys.exit("%s: line %d: unlabelled (39 fields); training needs the label first" % (path, number))
            labels.append(label), dense.append(d), keys.append(k), lines.append(line.rstrip("\r\n"))
    return np.array(labels, dtype=np.int64), np.array(dense, dtype=np.float32), np.array(keys, dtype=np.uint64), lines


def step_rows(rank, world, batch, n, step):
    """This rank's rows of a step: every rank takes the same number (wrapping around the end), so
    every collective is called as often on every rank."""
    start = step * world * batch + rank * batch
    return np.arange(start, start + batch) % n


def forward(net, rows, world, keys, dense, create):
    distinct, inverse = np.unique(keys.ravel(), return_inverse=True)
    exchange = Exchange(distinct, rows, world, create)
    leaf = exchange.rows.requires_grad_(create)
    embeddings = leaf[torch.from_numpy(inverse)].view(len(keys), SLOTS * DIM)
    return net(torch.cat([embeddings, torch.from_numpy(dense)], 1)), exchange, leaf


def predict(net, rows, rank, world, dense, keys, batch=512):
    """P(click) of every row, each rank scoring its slice, gathered on every rank."""
    n = len(keys)
    steps = (n + world * batch - 1) // (world * batch)
    scores = np.zeros(n, dtype=np.float32)
    with torch.no_grad():
        for step in range(max(steps, 1)):
            idx = step_rows(rank, world, batch, max(n, 1), step)
            logits, _, _ = forward(net, rows, world, keys[idx], dense[idx], create=False)
            probability = torch.softmax(logits, 1)[:, 1].numpy()
            gathered = [None] * world
            dist.all_gather_object(gathered, (idx, probability))
            for i, p in gathered:
                scores[i] = p
    return scores


def auc(labels, scores):
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels.sum()
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def main():
    args = arguments()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint-torch", "rank-%d-of-%d.pt" % (rank, world))

    labels, dense, keys, lines = load(args.data, args.hash)
    held = int(len(labels) * args.holdout)
    train = len(labels) - held
    rows = ShardedRows(args.seed)
    net = dense_network()
    if args.delta:
        if not os.path.exists(checkpoint):
            sys.exit("--delta: no checkpoint %s (train once without --delta, with the same --procs)" % checkpoint)
        state = torch.load(checkpoint)
        if state["hash"] != args.hash:
            sys.exit("--delta: the checkpoint hashed with %s, not %s" % (state["hash"], args.hash))
        net.load_state_dict(state["net"])
        rows.restore(state["rows"])
    model = DistributedDataParallel(net)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if args.delta:
        optimizer.load_state_dict(state["optimizer"])

    steps = (train + world * args.batch - 1) // (world * args.batch)
    started = time.time()
    shuffle = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        order = shuffle.permutation(train)  # the same on every rank: one seed
        for step in range(steps):
            idx = order[step_rows(rank, world, args.batch, train, step)]
            logits, exchange, leaf = forward(model, rows, world, keys[idx], dense[idx], create=True)
            loss = F.cross_entropy(logits, torch.from_numpy(labels[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # DDP averages the dense gradients over the ranks; the rows' are averaged alike.
            exchange.send_gradients(leaf.grad / world, rows, args.sparse_lr)
    seconds = time.time() - started
    samples = args.epochs * steps * world * args.batch

    # Export: every rank its own rows, rank 0 the donefile line (last), the model, the held-out set.
    exporter = Exporter(args.out, dict_name=args.dict, hash_scheme=args.hash)
    kind = "patch" if args.delta else "base"
    announced = [exporter.next_id() if rank == 0 else None]
    dist.broadcast_object_list(announced, src=0)
    version = announced[0]
    written = exporter.write_parts(version, kind, rows.items(only_dirty=args.delta), prefix="rank%03d-" % rank)
    dist.barrier()
    scores = predict(model, rows, rank, world, dense[train:], keys[train:])
    if rank == 0:
        exporter.commit(version, kind)
        served = Served(net).eval()
        buffer = io.BytesIO()
        torch.onnx.export(served, (torch.zeros(1, SLOTS * DIM), torch.zeros(1, DENSE)), buffer,
                          input_names=["embeddings", "dense"], output_names=["prob"],
                          dynamic_axes={"embeddings": {0: "N"}, "dense": {0: "N"}, "prob": {0: "N"}}, opset_version=13)
        exporter.write_model_onnx(buffer.getvalue(), table_version=version)
        with open(os.path.join(args.out, "holdout.tsv"), "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines[train:])
        with open(os.path.join(args.out, "holdout.predictions"), "w") as f:
            f.writelines(repr(float(s)) + "\n" for s in scores)
    rows.dirty.clear()
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    torch.save({"hash": args.hash, "net": net.state_dict(), "optimizer": optimizer.state_dict(), "rows": rows.state()}, checkpoint + ".tmp")
    os.replace(checkpoint + ".tmp", checkpoint)
    exported = [None] * world
    dist.all_gather_object(exported, written)
    if rank == 0:
        print("trained %d samples in %.1f s: %.0f samples/s on %d process(es); %s %s: %d rows; held-out %d rows, AUC %.4f"
              % (samples, seconds, samples / max(seconds, 1e-9), world, kind, version, sum(exported), held, auc(labels[train:], scores)), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
