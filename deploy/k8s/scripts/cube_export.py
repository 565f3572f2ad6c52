"""Write what Cube Appliance serves, from any trainer (docs/export-contract.md).

Standard library only for the table and donefile; the model package needs the `onnx` package.

    from cube_export import Exporter
    ex = Exporter("/artifacts/export", dict_name="test_dict")
    base_id = ex.write_base(rows)            # rows: iterable of (key: int, values: list of float)
    ex.write_model(layers, table_version=base_id)
    patch_id = ex.write_patch(changed_rows)  # only the rows updated since the last export

Layout written (the same as `cube train`):
    OUT/<id>/base/part-00000 ...     SequenceFiles: 8-byte little-endian key, dim x float32 LE
    OUT/<id>/patch/part-00000 ...
    OUT/donefile/base.txt, patch.txt one JSON line per version, appended last
    OUT/model/                       model.onnx, model.json, timestamp (written last)
"""

import json
import os
import random
import struct
import sys
import time
import zlib

SYNC_INTERVAL = 2000
CLASS = b"org.apache.hadoop.io.BytesWritable"
ROWS_PER_PART = 1000000


class SequenceFileWriter:
    """Hadoop SequenceFile v6, uncompressed, raw (not BytesWritable-framed) key and value bytes,
    big-endian lengths, a sync escape after every ~2000 bytes of payload (as kvtool.py)."""

    def __init__(self, path):
        self._file = open(path, "wb")
        self._sync = bytes(random.randint(0, 255) for _ in range(16))
        self._file.write(b"SEQ\x06" + bytes([len(CLASS)]) + CLASS + bytes([len(CLASS)]) + CLASS)
        self._file.write(b"\x00\x00" + struct.pack(">i", 0) + self._sync)
        self._since_sync = 0

    def write(self, key, value):
        if len(key) != 8:
            raise ValueError("keys are 8 bytes (uint64 little-endian)")
        self._file.write(struct.pack(">ii", len(key) + len(value), len(key)) + key + value)
        self._since_sync += len(key) + len(value)
        if self._since_sync >= SYNC_INTERVAL:
            self._file.write(b"\xff\xff\xff\xff" + self._sync)
            self._since_sync = 0

    def close(self):
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def cpython2_hash(data):
    """CPython 2's str hash (64-bit, randomisation off), as the original CTR reader hashed."""
    if not data:
        return 0
    mask = (1 << 64) - 1
    x = (data[0] << 7) & mask
    for b in data:
        x = ((x * 1000003) & mask) ^ b
    x ^= len(data)
    if x >= 1 << 63:
        x -= 1 << 64
    return -2 if x == -1 else x


def paddle_key(slot, token):
    """Table key of categorical slot 0..25 (C1..C26) as `hash: paddle` in model.json."""
    return cpython2_hash((str(14 + slot) + token).encode("utf-8")) % 1000001


class Exporter:
    def __init__(self, out_dir, dict_name="test_dict", hash_scheme="paddle", value_codec="f32"):
        self.out = os.path.abspath(out_dir)
        self.dict_name = dict_name
        self.hash_scheme = hash_scheme
        self.value_codec = value_codec
        self.base_id = self._last_id("base.txt")
        self.last_id = max(self.base_id or 0, self._last_id("patch.txt") or 0) or None

    def write_base(self, rows):
        version = self._next_id()
        self._write_version(version, "base", rows, key=version)
        self.base_id = version
        return version

    def write_patch(self, rows):
        if self.base_id is None:
            raise RuntimeError("export a base first: a patch names the base it applies to")
        version = self._next_id()
        self._write_version(version, "patch", rows, key=self.base_id)
        return version

    def write_model(self, layers, table_version, embedding_dim=10, slots=26, dense_width=13):
        """layers: list of (W, b) with W as [inputs][outputs] (numpy arrays or nested lists); ReLU
        between layers, softmax over 2 outputs at the end; click probability is column 1."""
        import numpy as np
        from onnx import TensorProto, helper, save_model

        nodes, inits = [], []
        width = slots * embedding_dim
        x = "x"
        nodes.append(helper.make_node("Concat", ["embeddings", "dense"], [x], axis=1))
        for i, (w, b) in enumerate(layers):
            w = np.asarray(w, dtype=np.float32)
            b = np.asarray(b, dtype=np.float32)
            inits.append(helper.make_tensor("w%d" % i, TensorProto.FLOAT, w.shape, w.flatten().tolist()))
            inits.append(helper.make_tensor("b%d" % i, TensorProto.FLOAT, b.shape, b.flatten().tolist()))
            y = "gemm%d" % i
            nodes.append(helper.make_node("Gemm", [x, "w%d" % i, "b%d" % i], [y]))
            last = i == len(layers) - 1
            x = "prob" if last else "relu%d" % i
            nodes.append(helper.make_node("Softmax" if last else "Relu", [y], [x], **({"axis": 1} if last else {})))
        graph = helper.make_graph(
            nodes, "ctr_dnn",
            [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", width]),
             helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["N", dense_width])],
            [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", len(layers[-1][1])])],
            inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        target = os.path.join(self.out, "model")
        os.makedirs(target, exist_ok=True)
        tmp = os.path.join(target, ".model.onnx.tmp")
        save_model(model, tmp)
        with open(tmp, "rb") as f:
            onnx_crc32 = "%08x" % (zlib.crc32(f.read()) & 0xFFFFFFFF)
        os.replace(tmp, os.path.join(target, "model.onnx"))
        spec = {
            "format": 1, "name": "ctr_dnn", "dict": self.dict_name, "hash": self.hash_scheme,
            "value_codec": self.value_codec, "embedding_dim": embedding_dim, "sparse_slots": slots,
            "dense_width": dense_width,
            "dense_min": [0, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "dense_diff": [20, 603, 100, 50, 64000, 500, 100, 50, 500, 10, 10, 10, 50],
            "embeddings_input": "embeddings", "dense_input": "dense", "output": "prob",
            "click_column": 1, "table_version": str(table_version),
            # version and onnx_crc32 tie the three files to one export: an engine reading while
            # the next export rewrites them reads again instead of mixing two exports.
            "version": str(table_version), "onnx_crc32": onnx_crc32,
        }
        _atomic_write(os.path.join(target, "model.json"), json.dumps(spec, indent=2).encode())
        _atomic_write(os.path.join(target, "timestamp"), ("%s\n" % table_version).encode())  # last: triggers reload

    def _write_version(self, version, kind, rows, key):
        target = os.path.join(self.out, str(version), kind)
        tmp = os.path.join(self.out, str(version), ".tmp-%s-%d" % (kind, os.getpid()))
        os.makedirs(tmp)
        part, count, writer = 0, 0, None
        for k, values in rows:
            if writer is None or count == ROWS_PER_PART:
                if writer is not None:
                    writer.close()
                writer = SequenceFileWriter(os.path.join(tmp, "part-%05d" % part))
                part, count = part + 1, 0
            writer.write(struct.pack("<Q", k), struct.pack("<%df" % len(values), *values))
            count += 1
        if writer is None:
            SequenceFileWriter(os.path.join(tmp, "part-00000")).close()
        else:
            writer.close()
        os.rename(tmp, target)
        line = json.dumps({"id": str(version), "key": str(key), "input": target})
        donefile = os.path.join(self.out, "donefile", "%s.txt" % kind)
        os.makedirs(os.path.dirname(donefile), exist_ok=True)
        with open(donefile, "a") as f:  # the line is the commit point: data first, line last
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.last_id = version

    def _next_id(self):
        return max(int(time.time()), (self.last_id or 0) + 1)

    def _last_id(self, name):
        path = os.path.join(self.out, "donefile", name)
        if not os.path.exists(path):
            return None
        lines = [l for l in open(path).read().splitlines() if l.strip()]
        return int(json.loads(lines[-1])["id"]) if lines else None


def _atomic_write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


if __name__ == "__main__":
    # cube_export.py OUT KEY:V1,V2,... [--patch]   (a tiny table from the command line, for tests)
    args = [a for a in sys.argv[1:] if a != "--patch"]
    exporter = Exporter(args[0])
    table = [(int(k), [float(v) for v in vs.split(",")]) for k, vs in (a.split(":") for a in args[1:])]
    print(exporter.write_patch(table) if "--patch" in sys.argv else exporter.write_base(table))
