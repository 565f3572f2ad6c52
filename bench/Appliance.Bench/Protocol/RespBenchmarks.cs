using System.Text;
using Appliance.Bench.Storage;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Serving;
using BenchmarkDotNet.Attributes;

namespace Appliance.Bench.Protocol;

/// <summary>
/// RESP MGET against the binary protocol's lookup on the same table and keys, in process: what
/// the text protocol costs per key beyond the lookup itself, without the sockets and the
/// scheduler that make bench/server-vs-redis.sh's per-core figures swing ±20 % on these
/// machines. 1M keys, 40-byte values, requests of 100 keys as redis-benchmark sends them (MGET of
/// 12-digit decimal keys of a table keyed 0 … 999,999) and as lookup frames; one thread. Reported
/// per key.
/// </summary>
[MemoryDiagnoser]
public class RespBenchmarks
{
    private const int Batch = 100;
    private const int Requests = 1000;

    private BenchTable _table = null!;
    private ShardService _service = null!;
    private byte[][] _frames = null!;
    private FrameBuffer _output = null!;
    private RespSession _session = null!;
    private byte[][] _mgets = null!;

    [GlobalSetup]
    public void Setup()
    {
        _table = BenchTable.Create(1_000_000, seed: 1, withDictionary: false, denseKeys: true);
        _service = new ShardService("t", 0, _table.Store);
        _session = new RespSession(new ShardDictReader("t", 0, _table.Store), 1 << 20, null, new DiscardingSink(), new RespStats());
        var keys = _table.SampleKeys(Batch * Requests, seed: 2);
        _frames = LookupFrames.Build(keys, Batch, Requests, "t");
        _mgets = new byte[Requests][];
        for (var r = 0; r < Requests; r++)
        {
            var batch = keys.AsSpan(r * Batch, Batch);
            var mget = new StringBuilder($"*{Batch + 1}\r\n$4\r\nMGET\r\n");
            foreach (var key in batch)
            {
                mget.Append("$12\r\n").Append(key.ToString("D12", System.Globalization.CultureInfo.InvariantCulture)).Append("\r\n");
            }

            _mgets[r] = Encoding.ASCII.GetBytes(mget.ToString());
        }

        _output = new FrameBuffer(1 << 20);
        var native = Native();
        var resp = Resp();
        // Every key found: each native reply carries the 40-byte rows, each RESP reply 100 bulk strings of them.
        if (_service.Stats.Misses != 0 || resp < Requests * Batch * BenchTable.ValueSize || native < Requests * Batch * BenchTable.ValueSize)
        {
            throw new InvalidOperationException($"setup: {_service.Stats.Misses} missing, {native} native bytes, {resp} RESP bytes");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _table.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch * Requests)]
    public int Native() => LookupFrames.HandleAll(_service, _frames, _output);

    [Benchmark(OperationsPerInvoke = Batch * Requests)]
    public int Resp()
    {
        var written = 0;
        for (var r = 0; r < Requests; r++)
        {
            _session.ClearOutput();
            var consumed = _session.Receive(_mgets[r]);
            if (consumed != _mgets[r].Length)
            {
                throw new InvalidOperationException($"an MGET was not taken whole: {consumed} of {_mgets[r].Length} bytes, closing {_session.Closing}, paused {_session.Paused}: {Encoding.ASCII.GetString(_session.Output.Span[..Math.Min(200, _session.Output.Length)])}");
            }

            written += _session.Output.Length;
        }

        return written;
    }

    /// <summary>A table in process answers at once: nothing is sent later.</summary>
    private sealed class DiscardingSink : IReplySink
    {
        public ReplyWindow Window { get; } = ReplyWindow.Unbounded();

        public string Peer => "bench";

        public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes) => ValueTask.FromResult(true);
    }
}
