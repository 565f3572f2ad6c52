#!/usr/bin/env python3
"""A gRPC client of the Open Inference Protocol (KServe v2) and gRPC's health protocol, written
from the published grpc_predict_v2.proto and health.proto, not from the engine's code: the message
classes are compiled at run time by Debian's protoc from the .proto files in PROTO_DIR, the calls
are made with Debian's grpcio (generic unary/stream calls, no generated stubs).

usage:
  oip_grpc.py all PROTO_DIR HOST:PORT MODEL LINES_FILE MAX_SAMPLES MAX_MESSAGE_BYTES
  oip_grpc.py notready PROTO_DIR HOST:PORT MODEL LINES_FILE
  oip_grpc.py watch PROTO_DIR HOST:PORT        (Health.Watch until the stream ends, a line per status)
Prints one JSON object: what every call answered (scores as float32 bit patterns, errors as
[status code name, message])."""
import importlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import grpc


def compile_protos(proto_dir):
    out = tempfile.mkdtemp(prefix="oip-grpc-")
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", out, "grpc_predict_v2.proto", "health.proto"], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("grpc_predict_v2_pb2"), importlib.import_module("health_pb2")


def bits(values):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


class Client:
    def __init__(self, address, pb, health):
        self.channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
        self.pb, self.health = pb, health

    def call(self, service, method, request, response_type):
        rpc = self.channel.unary_unary(f"/{service}/{method}", request_serializer=lambda m: m.SerializeToString(), response_deserializer=response_type.FromString)
        return rpc(request, timeout=30)

    def infer(self, method, request, response_type):
        return self.call("inference.GRPCInferenceService", method, request, response_type)

    def error(self, method, request, response_type):
        try:
            self.infer(method, request, response_type)
            return ["OK", ""]
        except grpc.RpcError as e:
            return [e.code().name, e.details()]

    def model_infer(self, request):
        return self.infer("ModelInfer", request, self.pb.ModelInferResponse)

    def health_check(self, service):
        try:
            answer = self.call("grpc.health.v1.Health", "Check", self.health.HealthCheckRequest(service=service), self.health.HealthCheckResponse)
            return self.health.HealthCheckResponse.ServingStatus.Name(answer.status)
        except grpc.RpcError as e:
            return e.code().name

    def health_watch_first(self, service):
        rpc = self.channel.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda m: m.SerializeToString(), response_deserializer=self.health.HealthCheckResponse.FromString)
        stream = rpc(self.health.HealthCheckRequest(service=service), timeout=30)
        first = next(stream)
        stream.cancel()
        return self.health.HealthCheckResponse.ServingStatus.Name(first.status)


def scores(pb, response):
    if response.raw_output_contents:
        raw = response.raw_output_contents[0]
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return list(response.outputs[0].contents.fp32_contents)


def lines_request(pb, model, lines, raw, version=""):
    request = pb.ModelInferRequest(model_name=model, model_version=version, id="req-1")
    tensor = request.inputs.add(name="lines", datatype="BYTES", shape=[len(lines)])
    encoded = [l.encode("utf-8") for l in lines]
    if raw:
        request.raw_input_contents.append(b"".join(struct.pack("<I", len(e)) + e for e in encoded))
    else:
        tensor.contents.bytes_contents.extend(encoded)
    return request


def tensors_request(pb, model, lines, raw):
    """dense FP32 [N,13] (a missing count is NaN) with sparse BYTES [N,26] (the tokens)."""
    dense, tokens = [], []
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        if len(fields) == 40:
            fields = fields[1:]
        dense.extend(float(f) if f else math.nan for f in fields[:13])
        tokens.extend(f.encode("utf-8") for f in fields[13:39])
    request = pb.ModelInferRequest(model_name=model)
    d = request.inputs.add(name="dense", datatype="FP32", shape=[len(lines), 13])
    s = request.inputs.add(name="sparse", datatype="BYTES", shape=[len(lines), 26])
    if raw:
        request.raw_input_contents.append(struct.pack(f"<{len(dense)}f", *dense))
        request.raw_input_contents.append(b"".join(struct.pack("<I", len(t)) + t for t in tokens))
    else:
        d.contents.fp32_contents.extend(dense)
        s.contents.bytes_contents.extend(tokens)
    return request


def run_all(client, pb, model, lines, max_samples, max_message):
    out = {}
    out["live"] = client.infer("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse).live
    out["ready"] = client.infer("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse).ready
    out["model_ready"] = client.infer("ModelReady", pb.ModelReadyRequest(name=model), pb.ModelReadyResponse).ready
    meta = client.infer("ServerMetadata", pb.ServerMetadataRequest(), pb.ServerMetadataResponse)
    out["server_metadata"] = {"name": meta.name, "version": meta.version}
    model_meta = client.infer("ModelMetadata", pb.ModelMetadataRequest(name=model), pb.ModelMetadataResponse)
    out["model_metadata"] = {
        "name": model_meta.name, "versions": list(model_meta.versions),
        "inputs": [[t.name, t.datatype, list(t.shape)] for t in model_meta.inputs],
        "outputs": [[t.name, t.datatype, list(t.shape)] for t in model_meta.outputs],
    }
    for raw in (False, True):
        form = "raw" if raw else "contents"
        answer = client.model_infer(lines_request(pb, model, lines, raw))
        out[f"lines_{form}"] = bits(scores(pb, answer))
        out[f"lines_{form}_answer"] = {"id": answer.id, "model_name": answer.model_name, "model_version": answer.model_version,
                                       "output": [answer.outputs[0].name, answer.outputs[0].datatype, list(answer.outputs[0].shape)],
                                       "raw_outputs": len(answer.raw_output_contents)}
        out[f"tensors_{form}"] = bits(scores(pb, client.model_infer(tensors_request(pb, model, lines, raw))))
    version = out["model_metadata"]["versions"][0]
    out["with_version"] = bits(scores(pb, client.model_infer(lines_request(pb, model, lines[:3], True, version))))

    errors = {}
    errors["unknown_model"] = client.error("ModelInfer", lines_request(pb, "nope", lines[:1], False), pb.ModelInferResponse)
    errors["unknown_version"] = client.error("ModelInfer", lines_request(pb, model, lines[:1], False, "1"), pb.ModelInferResponse)
    errors["model_ready_unknown"] = client.error("ModelReady", pb.ModelReadyRequest(name="nope"), pb.ModelReadyResponse)
    bad = lines_request(pb, model, lines[:2], False)
    bad.inputs[0].datatype = "INT32"
    errors["bad_datatype"] = client.error("ModelInfer", bad, pb.ModelInferResponse)
    short = lines_request(pb, model, lines[:2], False)
    short.inputs[0].shape[0] = 3
    errors["bad_shape"] = client.error("ModelInfer", short, pb.ModelInferResponse)
    lying = lines_request(pb, model, lines[:2], True)
    lying.raw_input_contents[0] = struct.pack("<I", 1000) + b"x"
    errors["bad_raw_length"] = client.error("ModelInfer", lying, pb.ModelInferResponse)
    invalid = pb.ModelInferRequest(model_name=model)
    invalid.inputs.add(name="lines", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"\xff\xfe")
    errors["bad_utf8"] = client.error("ModelInfer", invalid, pb.ModelInferResponse)
    errors["over_samples"] = client.error("ModelInfer", lines_request(pb, model, (lines * (max_samples // len(lines) + 2))[: max_samples + 1], True), pb.ModelInferResponse)
    big = lines_request(pb, model, lines[:1], True)
    big.raw_input_contents[0] = struct.pack("<I", max_message) + b"a" * max_message
    errors["over_message_size"] = client.error("ModelInfer", big, pb.ModelInferResponse)
    out["errors"] = errors
    out["health"] = {"check": client.health_check(""), "check_inference": client.health_check("inference.GRPCInferenceService"),
                     "check_unknown": client.health_check("nope"), "watch_first": client.health_watch_first(""),
                     "watch_unknown_first": client.health_watch_first("nope")}
    return out


def run_notready(client, pb, model, lines):
    return {
        "ready": client.infer("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse).ready,
        "infer": client.error("ModelInfer", lines_request(pb, model, lines[:1], False), pb.ModelInferResponse),
        "health_check": client.health_check(""),
        "watch_first": client.health_watch_first(""),
    }


def run_watch(client, health):
    """Watch "" until the stream ends: every status received, one per line as it comes (flushed,
    so a caller can act on the first), then how the stream ended."""
    rpc = client.channel.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda m: m.SerializeToString(), response_deserializer=health.HealthCheckResponse.FromString)
    try:
        for answer in rpc(health.HealthCheckRequest(service=""), timeout=60):
            print(health.HealthCheckResponse.ServingStatus.Name(answer.status), flush=True)
        print("END OK", flush=True)
    except grpc.RpcError as e:
        print("END " + e.code().name, flush=True)


def main():
    command, proto_dir, address = sys.argv[1:4]
    pb, health = compile_protos(proto_dir)
    client = Client(address, pb, health)
    if command == "watch":
        run_watch(client, health)
        return
    model, lines_file = sys.argv[4:6]
    with open(lines_file, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    if command == "all":
        result = run_all(client, pb, model, lines, int(sys.argv[6]), int(sys.argv[7]))
    elif command == "notready":
        result = run_notready(client, pb, model, lines)
    else:
        sys.exit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
