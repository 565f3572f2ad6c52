#!/usr/bin/env python3
"""Turns a `cube kv gen` text table (KEY<TAB>f f f ...) into a RESP stream of SETs for
`redis-cli --pipe`: each value packed as little-endian float32 (the bytes cube serves), each key
as the 12-digit decimal text that redis-benchmark makes of __rand_int__ and that
`cube bench lookup --raw --protocol resp` sends.

  redis-load.py table.txt | redis-cli -p PORT --pipe
"""
import struct
import sys

out = sys.stdout.buffer
for line in open(sys.argv[1]):
    key, floats = line.rstrip("\n").split("\t")
    values = floats.split()
    value = struct.pack("<%df" % len(values), *map(float, values))
    name = b"%012d" % int(key)
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(value), value))
