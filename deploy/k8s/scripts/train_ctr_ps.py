"""CTR-DNN in PaddlePaddle parameter-server mode (as the original demo), exporting for Cube Appliance.

Runs as every pod of the Volcano Job in training-job.yaml; TRAINING_ROLE says which part:
  PSERVER  holds a slice of the parameters (the 1000001 x 10 table is split across pservers)
  TRAINER  reads its share of the data files, trains asynchronously; trainer 0 then exports.

Data: labelled Criteo lines (label, I1..I13, C1..C26, TAB-separated) in --data (every file).
Export (docs/export-contract.md): trainer 0 saves the parameters, then writes with cube_export.py
  - the first time, a base: every row of SparseFeatFactors (key = row = paddle_key(slot, token));
  - afterwards, a patch: the rows whose values changed since the last export;
  - the model package (ONNX of the four fc layers, model.json, timestamp).
"""

import argparse
import glob
import os

import numpy as np
import paddle
import paddle.distributed.fleet as fleet

from cube_export import Exporter, paddle_key

HASH_DIM = 1000001
DIM = 10
DENSE_MIN = np.array([0, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
DENSE_DIFF = np.array([20, 603, 100, 50, 64000, 500, 100, 50, 500, 10, 10, 10, 50], dtype=np.float32)


def parse(line):
    f = line.rstrip("\n").split("\t")
    dense = np.array([float(x) if x else np.nan for x in f[1:14]], dtype=np.float32)
    dense = np.where(np.isnan(dense), 0.0, (dense - DENSE_MIN) / DENSE_DIFF).astype(np.float32)
    sparse = [paddle_key(s, f[14 + s]) for s in range(26)]
    return dense, sparse, int(f[0])


def batches(files, batch_size):
    rows = []
    for path in files:
        with open(path) as fh:
            for line in fh:
                rows.append(parse(line))
                if len(rows) == batch_size:
                    yield rows
                    rows = []
    if rows:
        yield rows


def network():
    dense = paddle.static.data("dense_input", [-1, 13], "float32")
    slots = [paddle.static.data("C%d" % (i + 1), [-1, 1], "int64") for i in range(26)]
    label = paddle.static.data("label", [-1, 1], "int64")
    embs = [paddle.static.nn.embedding(s, size=[HASH_DIM, DIM], is_sparse=True,
                                       param_attr=paddle.ParamAttr(name="SparseFeatFactors"))
            for s in slots]
    x = paddle.concat([paddle.reshape(e, [-1, DIM]) for e in embs] + [dense], axis=1)
    for i in range(3):
        x = paddle.static.nn.fc(x, 400, activation="relu", name="fc_%d" % i,
                                weight_attr=paddle.ParamAttr(name="fc_%d.w_0" % i), bias_attr=paddle.ParamAttr(name="fc_%d.b_0" % i))
    predict = paddle.static.nn.fc(x, 2, activation="softmax", name="fc_3",
                                  weight_attr=paddle.ParamAttr(name="fc_3.w_0"), bias_attr=paddle.ParamAttr(name="fc_3.b_0"))
    loss = paddle.mean(paddle.nn.functional.cross_entropy(predict, label, use_softmax=False))
    return [dense] + slots + [label], loss


def export(exe, args):
    """Trainer 0: save the parameters (the pservers write their slices), load them, export."""
    ckpt = os.path.join(args.out, "checkpoint")
    fleet.save_persistables(exe, ckpt)
    params = paddle.static.load_program_state(ckpt)
    table = np.asarray(params["SparseFeatFactors"], dtype=np.float32)
    layers = [(np.asarray(params["fc_%d.w_0" % i]), np.asarray(params["fc_%d.b_0" % i])) for i in range(4)]
    exporter = Exporter(args.out, dict_name=args.dict)
    last = os.path.join(args.out, "last_export.npy")
    if exporter.base_id is None or not os.path.exists(last):
        version = exporter.write_base((k, table[k].tolist()) for k in range(table.shape[0]))
    else:
        changed = np.nonzero(np.any(np.load(last) != table, axis=1))[0]
        version = exporter.write_patch((int(k), table[k].tolist()) for k in changed)
    np.save(last + ".tmp.npy", table)
    os.replace(last + ".tmp.npy", last)
    exporter.write_model(layers, table_version=version)
    print("exported version", version)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/artifacts/data")
    p.add_argument("--out", default="/artifacts/export")
    p.add_argument("--dict", default="test_dict")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-4)
    args = p.parse_args()

    paddle.enable_static()
    fleet.init()  # role from TRAINING_ROLE, PADDLE_PSERVERS_IP_PORT_LIST, PADDLE_TRAINERS_NUM, ...
    feeds, loss = network()
    strategy = fleet.DistributedStrategy()
    strategy.a_sync = True
    optimizer = fleet.distributed_optimizer(paddle.optimizer.Adam(args.lr), strategy)
    optimizer.minimize(loss)

    if fleet.is_server():
        fleet.init_server()
        fleet.run_server()
        return

    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(paddle.static.default_startup_program())
    fleet.init_worker()
    files = sorted(glob.glob(os.path.join(args.data, "*")))[fleet.worker_index()::fleet.worker_num()]
    for epoch in range(args.epochs):
        for step, rows in enumerate(batches(files, args.batch)):
            feed = {"dense_input": np.stack([r[0] for r in rows]),
                    "label": np.array([[r[2]] for r in rows], dtype=np.int64)}
            for s in range(26):
                feed["C%d" % (s + 1)] = np.array([[r[1][s]] for r in rows], dtype=np.int64)
            (value,) = exe.run(paddle.static.default_main_program(), feed=feed, fetch_list=[loss])
            if step % 100 == 0:
                print("trainer %d epoch %d step %d loss %.4f" % (fleet.worker_index(), epoch, step, float(np.mean(value))))
    if fleet.is_first_worker():
        export(exe, args)
    fleet.stop_worker()


if __name__ == "__main__":
    main()
