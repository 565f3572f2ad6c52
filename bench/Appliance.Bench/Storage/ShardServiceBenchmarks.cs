using Appliance.Core.Protocol;
using Appliance.Core.Serving;
using BenchmarkDotNet.Attributes;

namespace Appliance.Bench.Storage;

/// <summary>
/// What the server's latency histograms cost: the server's whole request path in
/// process — <see cref="ShardService.Handle"/> on lookup frames of 100 keys (decode, batch lookup,
/// reply encoding, counters) — with <c>--latency-histograms</c> on and off, one thread, 1M keys,
/// 40-byte values. No socket: the network and the scheduler, which make the over-the-wire figure
/// of bench/server-vs-redis.sh swing ±20 % on these machines, are not in it. Reported per key.
/// </summary>
[MemoryDiagnoser]
public class ShardServiceBenchmarks
{
    private const int Batch = 100;
    private const int Requests = 1000;

    private BenchTable _table = null!;
    private ShardService _service = null!;
    private byte[][] _payloads = null!;
    private FrameBuffer _output = null!;

    [Params(true, false)]
    public bool Histograms { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _table = BenchTable.Create(1_000_000, seed: 1, withDictionary: false);
        _service = new ShardService("t", 0, _table.Store) { LatencyHistograms = Histograms };
        _payloads = LookupFrames.Build(_table.SampleKeys(Batch * Requests, seed: 2), Batch, Requests, "t");
        _output = new FrameBuffer(1 << 20);
        Lookups();
        if (_service.Stats.Keys != Batch * Requests || _service.Stats.Misses != 0 || _service.Stats.Errors != 0)
        {
            throw new InvalidOperationException($"setup: {_service.Stats.Keys} keys looked up, {_service.Stats.Misses} missing, {_service.Stats.Errors} errors");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _table.Dispose();

    [Benchmark(OperationsPerInvoke = Batch * Requests)]
    public int Lookups() => LookupFrames.HandleAll(_service, _payloads, _output);
}
