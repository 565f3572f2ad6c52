#!/usr/bin/env python3
"""Floods one running `cube run --roles server` on loopback and measures what it costs a good client.

Scenarios (each bounded in count and time, on 127.x addresses only):
  idle       N idle TCP connections to the data port, spread over several 127.0.0.x addresses
  peer       as many idle connections as one address can hold (stops at N or at the first refusal)
  loris      C slow-loris clients on the HTTP port (a header byte every second)
  bigframes  4 connections sending 60 MiB ping frames back to back
For each: the server's RSS (peak during the flood) and a good client's ping latency p50/p99 over
the data port from another address (127.0.0.99), and /status latency for loris.

usage: flood.py --pid PID --port DATA_PORT --http-port HTTP_PORT [--idle 10000] [--loris 200] [--seconds 10]
Prints one line per scenario: scenario, connections held, rss MiB (before → peak), p50/p99 µs.
"""
import argparse
import socket
import struct
import threading
import time
import urllib.request

MAGIC, VERSION, PING = 0x4243, 1, 1


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ping_frame(request_id, payload=b""):
    return struct.pack("<HBBHHII", MAGIC, VERSION, PING, 0, 0, request_id, len(payload)) + payload


def read_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return bytes(data)


def good_client(port, seconds, results, source="127.0.0.99"):
    """Sequential pings from another address; latencies in µs (a failure counts as 10 s)."""
    deadline = time.time() + seconds
    sock = None
    i = 0
    while time.time() < deadline and i < 200_000:
        i += 1
        start = time.perf_counter()
        try:
            if sock is None:
                sock = socket.socket()
                sock.settimeout(10)
                sock.bind((source, 0))
                sock.connect(("127.0.0.1", port))
            sock.sendall(ping_frame(i, b"x" * 16))
            header = read_exact(sock, 16)
            read_exact(sock, struct.unpack_from("<I", header, 12)[0])
            results.append((time.perf_counter() - start) * 1e6)
        except OSError:
            results.append(10e6)
            sock = None
        time.sleep(0.002)


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def measure(name, pid, port, seconds, flood, held_fn):
    before = rss_mib(pid)
    stop = threading.Event()
    peak = [before]

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    state = flood()
    time.sleep(1)
    latencies = []
    good_client(port, seconds, latencies)
    held = held_fn(state)
    stop.set()
    watcher.join()
    failures = sum(1 for v in latencies if v >= 10e6)
    print(f"{name:10} held {held:6}  rss MiB {before:7.1f} -> peak {peak[0]:7.1f}  good client p50 {percentile(latencies, 0.5):8.0f} us  p99 {percentile(latencies, 0.99):8.0f} us  failed {failures}/{len(latencies)}", flush=True)
    return state


def open_idle(port, count, sources):
    socks = []
    for i in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((sources[i % len(sources)], 0))
            s.connect(("127.0.0.1", port))
            socks.append(s)
        except OSError:
            s.close()
            break
    return socks


def alive(socks):
    """Connections the server still holds (a refused one reads EOF at once)."""
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                continue
        except BlockingIOError:
            n += 1
        except OSError:
            continue
    return n


def close_all(socks):
    for s in socks:
        s.close()


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--pid", type=int, required=True)
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--http-port", type=int, required=True)
    a.add_argument("--idle", type=int, default=10_000)
    a.add_argument("--loris", type=int, default=200)
    a.add_argument("--seconds", type=float, default=10)
    args = a.parse_args()

    baseline = []
    good_client(args.port, args.seconds, baseline)
    print(f"{'baseline':10} held {0:6}  rss MiB {rss_mib(args.pid):7.1f}                    good client p50 {percentile(baseline, 0.5):8.0f} us  p99 {percentile(baseline, 0.99):8.0f} us", flush=True)

    sources = [f"127.0.0.{i}" for i in range(2, 22)]
    socks = measure("idle", args.pid, args.port, args.seconds, lambda: open_idle(args.port, args.idle, sources), alive)
    close_all(socks)
    time.sleep(1)

    socks = measure("peer", args.pid, args.port, args.seconds, lambda: open_idle(args.port, min(args.idle, 5000), ["127.0.0.50"]), alive)
    close_all(socks)
    time.sleep(1)

    def loris():
        clients = []
        stop = threading.Event()

        def drip(s):
            request = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
            for b in request:
                if stop.is_set():
                    return
                try:
                    s.send(bytes([b]))
                except OSError:
                    return
                time.sleep(1)

        for i in range(args.loris):
            s = socket.socket()
            s.bind((sources[i % len(sources)], 0))
            s.connect(("127.0.0.1", args.http_port))
            clients.append(s)
            threading.Thread(target=drip, args=(s,), daemon=True).start()
        return clients, stop

    def status_latency(state):
        times = []
        for _ in range(50):
            start = time.perf_counter()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.http_port}/status", timeout=10).read()
                times.append((time.perf_counter() - start) * 1e6)
            except OSError:
                times.append(10e6)
        print(f"{'':10} /status during loris: p50 {percentile(times, 0.5):8.0f} us  p99 {percentile(times, 0.99):8.0f} us  failed {sum(1 for t in times if t >= 10e6)}/50", flush=True)
        return alive(state[0])

    state = measure("loris", args.pid, args.port, args.seconds, loris, status_latency)
    state[1].set()
    close_all(state[0])
    time.sleep(1)

    def bigframes():
        stop = threading.Event()
        sent = [0]

        def flood():
            payload = b"\0" * (60 << 20)
            frame = ping_frame(7, payload)
            while not stop.is_set():
                try:
                    s = socket.socket()
                    s.settimeout(10)
                    s.bind(("127.0.0.60", 0))
                    s.connect(("127.0.0.1", args.port))
                    while not stop.is_set():
                        s.sendall(frame)
                        header = read_exact(s, 16)
                        left = struct.unpack_from("<I", header, 12)[0]
                        while left > 0:
                            left -= len(s.recv(min(left, 1 << 20)))
                        sent[0] += 1
                except OSError:
                    time.sleep(0.05)

        for _ in range(4):
            threading.Thread(target=flood, daemon=True).start()
        return stop, sent

    def frames_done(state):
        state[0].set()
        return state[1][0]

    measure("bigframes", args.pid, args.port, args.seconds, bigframes, frames_done)
    time.sleep(2)
    print(f"{'after':10} rss MiB {rss_mib(args.pid):7.1f}", flush=True)


if __name__ == "__main__":
    main()
