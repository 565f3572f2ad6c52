using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Net.Sockets;
using Appliance.Core.Brpc;
using Appliance.Core.Client;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;

namespace Appliance.Cli;

/// <summary>
/// <c>cube bench lookup --raw</c>: a lean generator for measuring a server rather than the
/// client, as redis-benchmark is for Redis. Per connection one blocking socket and one reader
/// thread; requests are framed straight into a per-connection buffer (open loop: by the
/// dispatcher, one send per connection per tick; closed loop: by the reader, one send per batch
/// of replies); replies are parsed only as far as counting found and missing keys. No tasks, no
/// timers, no allocation per request: on one core it costs about what the server does per
/// request, so the server's latency, not the generator's queue, is what shows at high rates.
/// One shard, its first replica (or <c>--address</c>); no retries (a failed connection ends the
/// run with an error). <c>--protocol resp</c> sends MGET instead of lookup frames, so the same
/// generator drives cube's RESP port and Redis: replies come in order, so the n-th reply on a
/// connection answers its n-th request. <c>--protocol brpc</c> sends the original clients'
/// DictService.seek packets to the data port, the request id as correlation id.
/// </summary>
internal static partial class BenchCommand
{
    private const int RingSize = 1 << 16; // requests in flight per connection, at most

    /// <summary>What the raw generator speaks.</summary>
    private enum RawProtocol
    {
        Native,
        Resp,
        Brpc,
    }

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

    private static Task RawDrive(Settings s, Totals totals, TimeSpan duration) =>
        Task.Factory.StartNew(() => RawRun(s, totals, duration), TaskCreationOptions.LongRunning);

    private static void RawRun(Settings s, Totals totals, TimeSpan duration)
    {
        var address = s.RawTarget!;
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
        switch (s.Protocol)
        {
            case RawProtocol.Resp:
                WriteMget(c.Out, keys);
                break;
            case RawProtocol.Brpc:
                SeekRequest.Write(c.Out, id, keys);
                break;
            default:
                LookupCodec.WriteRequest(c.Out, id, s.Dict, keys);
                break;
        }

        c.Sent++;
    }

    /// <summary><c>MGET k1 … kN</c>, each key as at least 12 decimal digits, zero-padded: the text
    /// redis-benchmark makes of <c>__rand_int__</c>, which cube's RESP port reads as the number.</summary>
    private static void WriteMget(FrameBuffer output, ReadOnlySpan<ulong> keys)
    {
        var resp = new RespWriter(output);
        resp.Array(keys.Length + 1);
        resp.Bulk("MGET"u8);
        Span<byte> text = stackalloc byte[20];
        foreach (var key in keys)
        {
            _ = Utf8Formatter.TryFormat(key, text, out var length, new StandardFormat('D', 12));
            resp.Bulk(text[..length]);
        }
    }
}
