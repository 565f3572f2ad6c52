using System.Diagnostics;
using System.Net.Sockets;
using Appliance.Core.Buffers;
using Appliance.Core.Client;
using Appliance.Core.Protocol;

namespace Appliance.Cli;

/// <summary>
/// <c>cube bench lookup --raw</c>: a lean generator for measuring a server rather than the
/// client, as redis-benchmark is for Redis. Per connection one blocking socket and one reader
/// thread; requests are framed straight into a per-connection buffer (open loop: by the
/// dispatcher, one send per connection per tick; closed loop: by the reader, one send per batch
/// of replies); replies are parsed only as far as counting found and missing keys. No tasks, no
/// timers, no allocation per request: on one core it costs about what the server does per
/// request, so the server's latency, not the generator's queue, is what shows at high rates.
/// One shard, its first replica; no retries (a failed connection ends the run with an error).
/// </summary>
internal static partial class BenchCommand
{
    private const int RingSize = 1 << 16; // requests in flight per connection, at most

    private sealed class RawConnection(Socket socket, int index)
    {
        public Socket Socket { get; } = socket;

        public int Index { get; } = index;

        public FrameBuffer Out { get; } = new();

        /// <summary>Scheduled start of request id, at [id % RingSize].</summary>
        public long[] Scheduled { get; } = new long[RingSize];

        public uint NextId;

        public long Sent;

        public long Received;

        public void Flush()
        {
            var data = Out.WrittenSpan;
            while (!data.IsEmpty)
            {
                data = data[Socket.Send(data)..];
            }

            Out.Clear();
        }
    }

    private static Task RawDrive(DictConf conf, Settings s, Totals totals, TimeSpan duration) =>
        Task.Factory.StartNew(() => RawRun(conf, s, totals, duration), TaskCreationOptions.LongRunning);

    private static void RawRun(DictConf conf, Settings s, Totals totals, TimeSpan duration)
    {
        if (conf.Shards != 1)
        {
            throw new UsageException($"--raw measures one server: dict {conf.DictName} has {conf.Shards} shards (use the client, without --raw)");
        }

        var address = conf.Replicas[0][0];
        var connections = new RawConnection[s.Connections];
        for (var c = 0; c < connections.Length; c++)
        {
            // Synchronous connect: a socket that has seen an async operation is switched to
            // non-blocking mode, and its "blocking" calls are then emulated through the epoll thread.
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(address.Host, address.Port);
            connections[c] = new RawConnection(socket, c);
        }

        // The first failure of any thread ends the run: every socket is shut down so the other
        // threads stop too, and it is reported (not an unhandled exception on a thread).
        Exception? failure = null;
        Action Guarded(Action body) => () =>
        {
            try
            {
                body();
            }
            catch (Exception e) when (e is SocketException or InvalidOperationException or ObjectDisposedException)
            {
                if (Interlocked.CompareExchange(ref failure, e, null) is null)
                {
                    foreach (var c in connections)
                    {
                        c.Socket.Dispose();
                    }
                }
            }
        };

        try
        {
            var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var total = s.Rate > 0 ? (long)(duration.TotalSeconds * s.Rate) : 0;
            var readers = connections.Select(c => new Thread(new ThreadStart(Guarded(() => RawRead(c, s, totals, end, total, connections.Length)))) { IsBackground = true, Name = $"raw reader {c.Index}" }).ToList();
            if (s.Rate > 0)
            {
                var dispatcher = new Thread(new ThreadStart(Guarded(() => RawDispatch(connections, s, total)))) { IsBackground = true, Name = "raw dispatcher" };
                readers.ForEach(r => r.Start());
                dispatcher.Start();
                dispatcher.Join();
            }
            else
            {
                var random = new KeyStream((ulong)s.Seed);
                foreach (var c in connections)
                {
                    for (var p = 0; p < s.Pipeline; p++)
                    {
                        RawWrite(c, s, random, Stopwatch.GetTimestamp());
                    }

                    c.Flush();
                }

                readers.ForEach(r => r.Start());
            }

            var deadline = duration + TimeSpan.FromSeconds(30);
            foreach (var reader in readers)
            {
                if (!reader.Join(deadline))
                {
                    throw new InvalidOperationException($"{address}: replies still missing 30 s after the run");
                }
            }

            if (Volatile.Read(ref failure) is { } e)
            {
                throw new InvalidOperationException($"{address}: {e.Message}", e);
            }
        }
        finally
        {
            foreach (var c in connections)
            {
                c.Socket.Dispose();
            }
        }
    }

    private static void RawWrite(RawConnection c, Settings s, KeyStream random, long scheduled)
    {
        Span<ulong> keys = stackalloc ulong[s.Batch];
        Fill(keys, s, random);
        var id = ++c.NextId;
        c.Scheduled[id % RingSize] = scheduled;
        LookupCodec.WriteRequest(c.Out, id, s.Dict, keys);
        c.Sent++;
    }

    /// <summary>Open loop: every tick, frames each request due on its connection (round robin),
    /// then one send per connection. Latency counts from the scheduled start.</summary>
    private static void RawDispatch(RawConnection[] connections, Settings s, long total)
    {
        var random = new KeyStream((ulong)s.Seed);
        Schedule(s, total, () => new FlushAll(connections), (i, scheduled) =>
        {
            var c = connections[i % connections.Length];
            if (c.Sent - Interlocked.Read(ref c.Received) >= RingSize)
            {
                throw new InvalidOperationException($"more than {RingSize} requests in flight on one connection: the server is not keeping up with --rate {s.Rate}");
            }

            RawWrite(c, s, random, scheduled);
        });
    }

    /// <summary>End of a dispatcher burst: one send per connection with requests framed.</summary>
    private sealed class FlushAll(RawConnection[] connections) : IDisposable
    {
        public void Dispose()
        {
            foreach (var c in connections)
            {
                if (c.Out.Length > 0)
                {
                    c.Flush();
                }
            }
        }
    }

    /// <summary>Reads replies until every request of this connection is answered: the open
    /// loop's share of <paramref name="total"/>, or in the closed loop, until the end time
    /// (each batch of replies is replaced by as many new requests while it has not passed).</summary>
    private static void RawRead(RawConnection c, Settings s, Totals totals, long end, long total, int connectionCount)
    {
        var expected = total > 0 ? (total / connectionCount) + (c.Index < total % connectionCount ? 1 : 0) : long.MaxValue;
        var closed = total == 0;
        var random = new KeyStream((ulong)(s.Seed * 7919 + c.Index + 1));
        var input = new ReceiveBuffer(256 << 10);
        var slices = new (int Offset, int Length)[s.Batch];
        long received = 0;
        while (received < expected)
        {
            var n = c.Socket.Receive(input.FreeSpan);
            if (n == 0)
            {
                throw new InvalidOperationException($"connection {c.Index}: the server closed the connection");
            }

            input.Commit(n);
            var now = Stopwatch.GetTimestamp();
            var replies = 0;
            var needed = 0;
            while (true)
            {
                var data = input.Data;
                var scan = FrameScanner.TryScan(data, FrameHeader.DefaultMaxPayload, out var header, out var error);
                if (scan == ScanResult.NeedMoreData)
                {
                    needed = header.FrameLength;
                    break;
                }

                if (scan == ScanResult.InvalidData || !header.IsResponse)
                {
                    throw new InvalidOperationException($"connection {c.Index}: invalid reply: {error ?? "not a response frame"}");
                }

                totals.Latency.Record((now - c.Scheduled[header.RequestId % RingSize]) * 1_000_000.0 / Stopwatch.Frequency);
                if (header.IsError)
                {
                    Interlocked.Add(ref totals.Failed, s.Batch);
                    var (_, message) = ErrorPayload.Read(data.Slice(FrameHeader.Size, header.PayloadLength));
                    Interlocked.CompareExchange(ref totals.FirstError, message, null);
                }
                else
                {
                    LookupCodec.ReadResponse(data.Slice(FrameHeader.Size, header.PayloadLength), slices);
                    var missing = 0;
                    foreach (var (_, length) in slices)
                    {
                        missing += length < 0 ? 1 : 0;
                    }

                    Interlocked.Add(ref totals.Missing, missing);
                    Interlocked.Add(ref totals.Keys, s.Batch);
                }

                Interlocked.Increment(ref totals.Requests);
                input.Consume(header.FrameLength);
                replies++;
            }

            received += replies;
            Interlocked.Add(ref c.Received, replies);
            if (closed && replies > 0)
            {
                if (now < end)
                {
                    for (var r = 0; r < replies; r++)
                    {
                        RawWrite(c, s, random, now);
                    }

                    c.Flush();
                }
                else if (c.Sent == received)
                {
                    return;
                }
            }

            // Keep the unparsed tail at the front; grow for a frame larger than the buffer.
            input.Compact(needed);
        }
    }
}
