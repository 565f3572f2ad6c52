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


_P1, _P2, _P3, _P4, _P5 = 11400714785074694791, 14029467366897019727, 1609587929392839161, 9650029242287828579, 2870177450012600261
_M = (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc, lane):
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def xxh64(data, seed=0):
    """XxHash64 of bytes (the reference algorithm, in Python integers)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed & _M, (seed - _P1) & _M]
        while i + 32 <= n:
            v = [_round(v[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little")) for j in range(4)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for lane in v:
            h = ((h ^ _round(0, lane)) * _P1 + _P4) & _M
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, int.from_bytes(data[i:i + 8], "little")), 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ ((int.from_bytes(data[i:i + 4], "little") * _P1) & _M), 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h = (_rotl(h ^ ((data[i] * _P5) & _M), 11) * _P1) & _M
        i += 1
    h = ((h ^ (h >> 33)) * _P2) & _M
    h = ((h ^ (h >> 29)) * _P3) & _M
    return h ^ (h >> 32)


def xxh64_key(slot, token):
    """Table key of categorical slot 0..25 as `hash: xxh64` in model.json: all 64 bits."""
    return xxh64(bytes([slot]) + token.encode("utf-8"))


DENSE_MIN = [0, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
DENSE_DIFF = [20, 603, 100, 50, 64000, 500, 100, 50, 500, 10, 10, 10, 50]
HASHES = {"paddle": paddle_key, "xxh64": xxh64_key}


def features(line, hash_scheme="paddle"):
    """(label or None, 13 normalised dense values, 26 keys) of a Criteo line, as the engine
    computes them (cube features): 40 fields with the label first, or 39 without; a missing count
    is 0, else (x - dense_min) / dense_diff rounded to float32."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) == 40:
        label, fields = int(fields[0]), fields[1:]
    elif len(fields) == 39:
        label = None
    else:
        raise ValueError("a Criteo line has 39 or 40 tab-separated fields, this one %d" % len(fields))
    dense = [0.0 if v == "" else struct.unpack("<f", struct.pack("<f", (float(v) - DENSE_MIN[k]) / DENSE_DIFF[k]))[0]
             for k, v in enumerate(fields[:13])]
    key = HASHES[hash_scheme]
    return label, dense, [key(s, t) for s, t in enumerate(fields[13:39])]


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
        from onnx import TensorProto, helper

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
        self.write_model_onnx(model.SerializeToString(), table_version, embedding_dim, slots, dense_width)

    def write_model_onnx(self, onnx_bytes, table_version, embedding_dim=10, slots=26, dense_width=13):
        """The model package from a graph already serialised (torch.onnx.export's): inputs
        `embeddings` [N, slots x dim] and `dense` [N, dense_width], output `prob` [N, 2] softmax."""
        target = os.path.join(self.out, "model")
        os.makedirs(target, exist_ok=True)
        onnx_crc32 = "%08x" % (zlib.crc32(onnx_bytes) & 0xFFFFFFFF)
        _atomic_write(os.path.join(target, "model.onnx"), onnx_bytes)
        spec = {
            "format": 1, "name": "ctr_dnn", "dict": self.dict_name, "hash": self.hash_scheme,
            "value_codec": self.value_codec, "embedding_dim": embedding_dim, "sparse_slots": slots,
            "dense_width": dense_width,
            "dense_min": DENSE_MIN, "dense_diff": DENSE_DIFF,
            "embeddings_input": "embeddings", "dense_input": "dense", "output": "prob",
            "click_column": 1, "table_version": str(table_version),
            # version and onnx_crc32 tie the three files to one export: an engine reading while
            # the next export rewrites them reads again instead of mixing two exports.
            "version": str(table_version), "onnx_crc32": onnx_crc32,
        }
        _atomic_write(os.path.join(target, "model.json"), json.dumps(spec, indent=2).encode())
        _atomic_write(os.path.join(target, "timestamp"), ("%s\n" % table_version).encode())  # last: triggers reload

    def _write_version(self, version, kind, rows, key):
        self.write_parts(version, kind, rows)
        self.commit(version, kind, key)

    def write_parts(self, version, kind, rows, prefix=""):
        """Writes rows as SequenceFiles <prefix>part-NNNNN into the version's temporary directory.
        Several writers (one per trainer rank, each with its own prefix) may fill one version;
        commit() then publishes it."""
        tmp = self._tmp(version, kind)
        os.makedirs(tmp, exist_ok=True)
        part, count, writer = 0, 0, None
        for k, values in rows:
            if writer is None or count == ROWS_PER_PART:
                if writer is not None:
                    writer.close()
                writer = SequenceFileWriter(os.path.join(tmp, "%spart-%05d" % (prefix, part)))
                part, count = part + 1, 0
            writer.write(struct.pack("<Q", k), struct.pack("<%df" % len(values), *values))
            count += 1
        if writer is None:
            SequenceFileWriter(os.path.join(tmp, "%spart-00000" % prefix)).close()
        else:
            writer.close()
        return (part - 1) * ROWS_PER_PART + count if writer is not None else 0

    def commit(self, version, kind, key=None):
        """Publishes a version whose parts are written: its directory renamed into place, then its
        donefile line appended and flushed (the line is the commit point: data first, line last)."""
        if key is None:
            key = version if kind == "base" else self.base_id
        target = os.path.join(self.out, str(version), kind)
        os.rename(self._tmp(version, kind), target)
        line = json.dumps({"id": str(version), "key": str(key), "input": target})
        donefile = os.path.join(self.out, "donefile", "%s.txt" % kind)
        os.makedirs(os.path.dirname(donefile), exist_ok=True)
        with open(donefile, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.last_id = version
        if kind == "base":
            self.base_id = version

    def _tmp(self, version, kind):
        return os.path.join(self.out, str(version), ".tmp-%s" % kind)

    def next_id(self):
        """The next version id: unix seconds, bumped past the last one written."""
        return self._next_id()

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
