#!/usr/bin/python3
"""An independent client of the original cube's DictService.seek, for the tests.

Written from brpc's published description of baidu_std (a 12-byte header "PRPC" + body size +
meta size, big-endian; the body is a serialised brpc.policy.RpcMeta followed by the method's
message) and the original cube.proto. The protobuf encoding is Google's python3-protobuf
runtime (Debian's package), not ours: the messages are declared below as descriptors, so no
protoc is needed.

  cube_seek.py brpc HOST PORT [--version] [--pipeline N] [--raw-meta HEX] KEY...
  cube_seek.py http HOST PORT [--version] KEY...

Prints one line per key: KEY<TAB>STATUS<TAB>HEX(value), then "version<TAB>V" when asked; an
RpcMeta error prints "error<TAB>CODE<TAB>TEXT" and exits 3.
"""
import base64
import json
import socket
import struct
import sys
import urllib.error
import urllib.request

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _file(name, package, messages):
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto2")
    for message_name, fields in messages:
        message = proto.message_type.add(name=message_name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
    return proto


OPT, REQ, REP = F.LABEL_OPTIONAL, F.LABEL_REQUIRED, F.LABEL_REPEATED
POOL = descriptor_pool.DescriptorPool()
POOL.Add(_file("baidu_rpc_meta.proto", "brpc.policy", [
    ("RpcMeta", [("request", 1, F.TYPE_MESSAGE, OPT, ".brpc.policy.RpcRequestMeta"),
                 ("response", 2, F.TYPE_MESSAGE, OPT, ".brpc.policy.RpcResponseMeta"),
                 ("compress_type", 3, F.TYPE_INT32, OPT, None),
                 ("correlation_id", 4, F.TYPE_INT64, OPT, None),
                 ("attachment_size", 5, F.TYPE_INT32, OPT, None)]),
    ("RpcRequestMeta", [("service_name", 1, F.TYPE_STRING, REQ, None),
                        ("method_name", 2, F.TYPE_STRING, REQ, None),
                        ("log_id", 3, F.TYPE_INT64, OPT, None)]),
    ("RpcResponseMeta", [("error_code", 1, F.TYPE_INT32, OPT, None),
                         ("error_text", 2, F.TYPE_STRING, OPT, None)]),
]))
POOL.Add(_file("cube.proto", "rec.mcube", [
    ("DictRequest", [("keys", 1, F.TYPE_UINT64, REP, None),
                     ("version_required", 2, F.TYPE_BOOL, OPT, None)]),
    ("DictValue", [("status", 1, F.TYPE_UINT32, REQ, None),
                   ("value", 2, F.TYPE_BYTES, REQ, None)]),
    ("DictResponse", [("values", 1, F.TYPE_MESSAGE, REP, ".rec.mcube.DictValue"),
                      ("version", 2, F.TYPE_STRING, OPT, None)]),
]))


def _class(name):
    descriptor = POOL.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(POOL).GetPrototype(descriptor)


RpcMeta = _class("brpc.policy.RpcMeta")
DictRequest = _class("rec.mcube.DictRequest")
DictResponse = _class("rec.mcube.DictResponse")


def packet(meta, payload):
    meta_bytes = meta.SerializeToString()
    return b"PRPC" + struct.pack(">II", len(meta_bytes) + len(payload), len(meta_bytes)) + meta_bytes + payload


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


def read_packet(sock):
    header = read_exact(sock, 12)
    if header[:4] != b"PRPC":
        raise ValueError("reply magic %r" % header[:4])
    body_size, meta_size = struct.unpack(">II", header[4:])
    body = read_exact(sock, body_size)
    meta = RpcMeta()
    meta.ParseFromString(body[:meta_size])
    return meta, body[meta_size:]


def seek_brpc(host, port, keys, version, pipeline):
    """Sends the same seek `pipeline` times back to back (correlation ids 1000, 1001, ...) before
    reading any reply; every reply must carry one of them, each once."""
    request = DictRequest(keys=keys, version_required=version).SerializeToString()
    with socket.create_connection((host, port), timeout=10) as sock:
        ids = [1000 + i for i in range(pipeline)]
        sock.sendall(b"".join(
            packet(RpcMeta(correlation_id=i, request={"service_name": "rec.mcube.DictService", "method_name": "seek", "log_id": 7}), request)
            for i in ids))
        answers = {}
        for _ in ids:
            meta, payload = read_packet(sock)
            if meta.response.error_code != 0:
                print("error\t%d\t%s" % (meta.response.error_code, meta.response.error_text))
                sys.exit(3)
            if meta.correlation_id in answers or meta.correlation_id not in ids:
                raise ValueError("unexpected correlation id %d" % meta.correlation_id)
            response = DictResponse()
            response.ParseFromString(payload)
            answers[meta.correlation_id] = response
        first = answers[ids[0]]
        for other in answers.values():
            if other != first:
                raise ValueError("pipelined replies to the same request differ")
        return [(v.status, bytes(v.value)) for v in first.values], (first.version if first.HasField("version") else None)


def raw_meta(host, port, meta_hex, keys):
    """One packet with a hand-made meta (to see how the server refuses it)."""
    meta = RpcMeta()
    meta.ParseFromString(bytes.fromhex(meta_hex))
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(packet(meta, DictRequest(keys=keys).SerializeToString()))
        reply, _ = read_packet(sock)
        print("error\t%d\t%s\t%d" % (reply.response.error_code, reply.response.error_text, reply.correlation_id))


def seek_http(host, port, keys, version):
    body = json.dumps({"keys": keys, "version_required": version}).encode()
    request = urllib.request.Request("http://%s:%d/DictService/seek" % (host, port), data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer = json.load(reply)
    except urllib.error.HTTPError as e:
        print("error\t%d\t%s" % (e.code, e.read().decode()))
        sys.exit(3)
    return [(v["status"], base64.b64decode(v["value"])) for v in answer["values"]], answer.get("version")


def main(argv):
    mode, host, port = argv[1], argv[2], int(argv[3])
    rest = argv[4:]
    version = "--version" in rest
    pipeline = 1
    meta_hex = None
    keys = []
    i = 0
    while i < len(rest):
        if rest[i] == "--pipeline":
            pipeline = int(rest[i + 1])
            i += 1
        elif rest[i] == "--raw-meta":
            meta_hex = rest[i + 1]
            i += 1
        elif rest[i] != "--version":
            keys.append(int(rest[i]))
        i += 1
    if meta_hex is not None:
        raw_meta(host, port, meta_hex, keys)
        return
    values, got_version = seek_brpc(host, port, keys, version, pipeline) if mode == "brpc" else seek_http(host, port, keys, version)
    if len(values) != len(keys):
        raise ValueError("%d values for %d keys" % (len(values), len(keys)))
    for key, (status, value) in zip(keys, values):
        print("%d\t%d\t%s" % (key, status, value.hex()))
    if version:
        print("version\t%s" % got_version)


if __name__ == "__main__":
    main(sys.argv)
