using System.Diagnostics;
using Appliance.Core.Brpc;
using Appliance.Core.Buffers;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;

namespace Appliance.Cli;

/// <summary><c>cube bench lookup --raw</c>: the open-loop dispatcher and the per-connection reader
/// (which, in the closed loop, also replaces each batch of replies with new requests).</summary>
internal static partial class BenchCommand
{
    /// <summary>Open loop: every tick, frames each request due on its connection (round robin),
    /// then one send per connection. Latency counts from the scheduled start.</summary>
    private static void RawDispatch(RawConnection[] connections, Settings s, long total)
    {
        var random = new KeyStream((ulong)s.Seed);
        var flush = new FlushAll(connections); // one for every burst: nothing allocated per wake-up
        Schedule(s, total, () => flush, (i, scheduled) =>
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
        var counts = new int[2]; // a seek reply's found and missing keys
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
                if (s.Protocol == RawProtocol.Resp)
                {
                    var reply = MgetReplyScanner.TryScan(data, 1 << 20, s.Batch, out var length, out var found, out var absent, out var problem);
                    if (reply == ScanResult.NeedMoreData)
                    {
                        break; // unknown length: Compact doubles a full buffer
                    }

                    if (reply == ScanResult.InvalidData)
                    {
                        throw new InvalidOperationException($"connection {c.Index}: invalid reply: {problem}");
                    }

                    // In order: this is the reply to the connection's request number received + replies + 1.
                    CountReply(totals, now - c.Scheduled[(received + replies + 1) % RingSize], problem, found, absent, s.Batch);
                    input.Consume(length);
                    replies++;
                    continue;
                }

                if (s.Protocol == RawProtocol.Brpc)
                {
                    if (!BaiduStdHeader.TryRead(data, BaiduStdClient.MaxReplyBody, out var packet, out var invalid) || data.Length < packet.PacketSize)
                    {
                        needed = invalid is null ? packet.PacketSize : throw new InvalidOperationException($"connection {c.Index}: invalid reply: {invalid}");
                        break;
                    }

                    CountSeekReply(c, totals, now, data.Slice(BaiduStdHeader.Size, packet.BodySize), packet.MetaSize, counts, s.Batch);
                    input.Consume(packet.PacketSize);
                    replies++;
                    continue;
                }

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

                var elapsed = now - c.Scheduled[header.RequestId % RingSize];
                if (header.IsError)
                {
                    var (_, message) = ErrorPayload.Read(data.Slice(FrameHeader.Size, header.PayloadLength));
                    CountReply(totals, elapsed, message, 0, 0, s.Batch);
                }
                else
                {
                    LookupCodec.ReadResponse(data.Slice(FrameHeader.Size, header.PayloadLength), slices);
                    var missing = 0;
                    foreach (var (_, length) in slices)
                    {
                        missing += length < 0 ? 1 : 0;
                    }

                    CountReply(totals, elapsed, null, s.Batch - missing, missing, s.Batch);
                }

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

    /// <summary>One baidu_std reply: matched to its request by correlation id (the request id).</summary>
    private static void CountSeekReply(RawConnection c, Totals totals, long now, ReadOnlySpan<byte> body, int metaSize, int[] counts, int batch)
    {
        var meta = RpcMeta.Read(body[..metaSize]);
        var elapsed = now - c.Scheduled[(uint)meta.CorrelationId % RingSize];
        if (meta.ErrorCode != 0)
        {
            CountReply(totals, elapsed, $"error {meta.ErrorCode}: {System.Text.Encoding.UTF8.GetString(meta.ErrorText)}", 0, 0, batch);
            return;
        }

        counts[0] = counts[1] = 0;
        DictResponse.Read(body[metaSize..], counts, static (n, _, status, _) => n[status == 0 ? 0 : 1]++);
        CountReply(totals, elapsed, null, counts[0], counts[1], batch);
    }

    /// <summary>One reply: its latency (timestamp ticks since the scheduled start), and either an
    /// error for the whole batch or its found and missing keys.</summary>
    private static void CountReply(Totals totals, long elapsedTicks, string? error, int found, int missing, int batch)
    {
        totals.Latency.Record(elapsedTicks * 1_000_000.0 / Stopwatch.Frequency);
        if (error is not null)
        {
            Interlocked.Add(ref totals.Failed, batch);
            Interlocked.CompareExchange(ref totals.FirstError, error, null);
        }
        else
        {
            Interlocked.Add(ref totals.Missing, missing);
            Interlocked.Add(ref totals.Keys, found + missing);
        }

        Interlocked.Increment(ref totals.Requests);
    }
}
