using Appliance.Core.Storage;
using BenchmarkDotNet.Attributes;

namespace Appliance.Bench.Storage;

/// <summary>
/// In-process batch lookup, batch 100, 40-byte values, one thread: the store's batch path against
/// a Dictionary&lt;ulong, byte[]&gt; and against the store's own one-key-at-a-time probe (no batch
/// hashing, no prefetch). Each operation is 1000 batches over keys drawn at random from the whole
/// table; the reported time is per key. Every method reads the first and the last byte of each
/// value (a value can straddle two cache lines), so no lookup can be optimised away, and setup
/// checks every method's answers first.
/// </summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private const int Batch = 100;
    private const int Batches = 1000;

    private BenchTable _table = null!;
    private ulong[] _keys = null!;
    private ValueRef[] _results = null!;

    [Params(1_000_000, 20_000_000)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _table = BenchTable.Create(Keys, seed: 1, withDictionary: true);
        _keys = _table.SampleKeys(Batch * Batches, seed: 2);
        _results = new ValueRef[Batch];
        var expected = 0L;
        foreach (var k in _keys)
        {
            expected += _table.Reference![k][0] + _table.Reference![k][^1];
        }

        Check(nameof(StoreBatch), StoreBatch(), expected);
        Check(nameof(StoreOneByOne), StoreOneByOne(), expected);
        Check(nameof(Dictionary), Dictionary(), expected);
    }

    [GlobalCleanup]
    public void Cleanup() => _table.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch * Batches)]
    public long Dictionary()
    {
        var dict = _table.Reference!;
        long sum = 0;
        foreach (var key in _keys)
        {
            if (dict.TryGetValue(key, out var value))
            {
                sum += value[0] + value[^1];
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Batch * Batches)]
    public long StoreBatch()
    {
        using var lease = _table.Store.Acquire();
        var view = lease.View!;
        long sum = 0;
        for (var b = 0; b < Batches; b++)
        {
            view.Lookup(_keys.AsSpan(b * Batch, Batch), _results);
            for (var i = 0; i < Batch; i++)
            {
                if (_results[i].Found)
                {
                    var span = _results[i].Span;
                    sum += span[0] + span[^1];
                }
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Batch * Batches)]
    public long StoreOneByOne()
    {
        using var lease = _table.Store.Acquire();
        var shard = lease.View!.Base;
        long sum = 0;
        foreach (var key in _keys)
        {
            var value = shard.Find(key);
            if (value.Found)
            {
                var span = value.Span;
                sum += span[0] + span[^1];
            }
        }

        return sum;
    }

    private static void Check(string name, long actual, long expected)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"{name} answered {actual}, the reference says {expected}");
        }
    }
}
