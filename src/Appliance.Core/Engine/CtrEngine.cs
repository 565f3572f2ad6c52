using System.Buffers;
using System.Collections.Concurrent;
using Appliance.Core.Features;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>
/// Criteo lines → P(click): parse (a bad line is that sample's error, the rest are scored),
/// normalise the dense values, hash the 26 tokens to keys, fetch each distinct key once, decode
/// (missing keys are zero vectors and counted), run the network.
/// </summary>
internal sealed class CtrEngine(ModelPackage model, IEmbeddingSource source, EngineTimings? timings = null)
{
    private readonly EngineTimings _timings = timings ?? new EngineTimings();

    private long _samples;
    private long _misses;
    private long _unavailable;
    private long _degraded;
    private long _errors;

    public ModelPackage Model { get; } = model;

    public long Samples => Interlocked.Read(ref _samples);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Keys scored as zeros because their shard failed (<c>--on-shard-failure zero</c>).</summary>
    public long Unavailable => Interlocked.Read(ref _unavailable);

    /// <summary>Batches answered with at least one such key.</summary>
    public long Degraded => Interlocked.Read(ref _degraded);

    public long Errors => Interlocked.Read(ref _errors);

    public Task<ScoreResult> ScoreAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken = default) =>
        ScoreAsync(EngineSample.FromLines(lines), cancellationToken);

    public async Task<ScoreResult> ScoreAsync(IReadOnlyList<EngineSample> lines, CancellationToken cancellationToken = default)
    {
        var spec = Model.Spec;
        var slots = spec.SparseSlots;
        var dim = spec.EmbeddingDim;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var errors = new string?[lines.Count];
        var scores = new float?[lines.Count];
        var missing = 0;
        var nonFinite = 0;
        var table = TableSpan.None;

        // Per-request arrays come from pools (at batch 256 the embeddings alone are 266 KB: fresh
        // ones were large-object allocations, a gen-2 collection every few requests); each is
        // rented at least as large as needed, so every use below is sliced to the exact length.
        var scratch = Scratch.Rent();
        var rows = ArrayPool<int>.Shared.Rent(lines.Count);
        var dense = ArrayPool<float>.Shared.Rent(lines.Count * spec.DenseWidth);
        var slotKeys = ArrayPool<ulong>.Shared.Rent(slots); // one sample's keys at a time
        var slotRows = ArrayPool<int>.Shared.Rent(lines.Count * slots);
        try
        {
            var unique = scratch.Unique;
            unique.Reset(lines.Count * slots);
            var n = Prepare(lines, errors, rows, dense, slotKeys, slotRows, unique);
            if (n > 0)
            {
                _timings.ParseHash.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
                var gathering = System.Diagnostics.Stopwatch.GetTimestamp();
                var vectors = scratch.Vectors(unique.Count * dim);
                var found = scratch.Found(unique.Count);
                table = await source.GatherAsync(unique.Keys, vectors.AsMemory(0, unique.Count * dim), dim, Model.Codec, found.AsMemory(0, unique.Count), cancellationToken).ConfigureAwait(false);
                for (var k = 0; k < unique.Count; k++)
                {
                    missing += found[k] ? 0 : 1;
                }

                missing -= table.Unavailable; // counted on their own: not the table's gaps but a shard's failure

                var embeddings = scratch.Embeddings(n * slots * dim);
                for (var i = 0; i < n * slots; i++)
                {
                    var index = slotRows[i];
                    var row = embeddings.AsSpan(i * dim, dim);
                    if (found[index])
                    {
                        vectors.AsSpan(index * dim, dim).CopyTo(row);
                    }
                    else
                    {
                        row.Clear(); // a missing (or unavailable) key is a zero vector
                    }
                }

                _timings.Gather.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(gathering));
                var running = System.Diagnostics.Stopwatch.GetTimestamp();
                var width = Model.Scorer.OutputWidth(spec.Output);
                var output = scratch.Output(n * width);
                Model.Scorer.Score(spec.EmbeddingsInput, embeddings.AsMemory(0, n * slots * dim), slots * dim, spec.DenseInput, dense.AsMemory(0, n * spec.DenseWidth), spec.DenseWidth, spec.Output, n, output.AsMemory(0, n * width));
                _timings.Network.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(running));
                for (var r = 0; r < n; r++)
                {
                    var score = output[(r * width) + spec.ClickColumn];
                    if (float.IsFinite(score))
                    {
                        scores[rows[r]] = score;
                    }
                    else
                    {
                        // That sample's failure (e.g. a dense value too large for float32), not the
                        // request's: the other samples keep their scores.
                        errors[rows[r]] = $"the network gave a non-finite score ({score}) for this sample; are its dense values in range?";
                        nonFinite++;
                    }
                }
            }

            var uniqueCount = scratch.Unique.Count;
            Interlocked.Add(ref _samples, n - nonFinite);
            Interlocked.Add(ref _misses, missing);
            if (table.Unavailable > 0)
            {
                Interlocked.Add(ref _unavailable, table.Unavailable);
                Interlocked.Increment(ref _degraded);
            }

            Interlocked.Add(ref _errors, lines.Count - n + nonFinite);
            return new ScoreResult(scores, errors, uniqueCount, missing, Model.Timestamp) { Table = table };
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rows);
            ArrayPool<float>.Shared.Return(dense);
            ArrayPool<ulong>.Shared.Return(slotKeys);
            ArrayPool<int>.Shared.Return(slotRows);
            Scratch.Return(scratch);
        }
    }

    /// <summary>Parses, normalises and hashes every sample (a bad line is that sample's error);
    /// returns how many rows are to be scored: row r is sample <paramref name="rows"/>[r], its
    /// dense values at r × width. Each distinct key gets its index in order of first use, and
    /// <paramref name="slotRows"/>[r × slots + s] holds the index of row r's key in slot s.</summary>
    private int Prepare(IReadOnlyList<EngineSample> lines, string?[] errors, int[] rows, float[] dense, ulong[] slotKeys, int[] slotRows, KeyIndex unique)
    {
        var spec = Model.Spec;
        var slots = spec.SparseSlots;
        Span<double?> raw = stackalloc double?[CriteoSample.DenseCount];
        Span<Range> tokens = stackalloc Range[CriteoSample.SparseCount];
        var n = 0;
        for (var i = 0; i < lines.Count; i++)
        {
            var keys = slotKeys.AsSpan(0, slots);
            if (lines[i].Rows is { } tensors)
            {
                // Tensors were checked for shape where they were read (OIP): no per-sample error.
                TensorRow(tensors, lines[i].Row, dense.AsSpan(n * spec.DenseWidth, spec.DenseWidth), keys);
            }
            else
            {
                ReadOnlySpan<char> line;
                try
                {
                    CriteoSample.Read(lines[i].Line.Span, raw, tokens, out line);
                }
                catch (FormatException e)
                {
                    errors[i] = e.Message;
                    continue;
                }

                // The tokens are hashed where they lie in the line: no string per token.
                Model.Normalizer.Normalize(raw, dense.AsSpan(n * spec.DenseWidth, spec.DenseWidth));
                FeatureHasher.Keys(Model.Hash, line, tokens, keys);
            }

            for (var s = 0; s < slots; s++)
            {
                slotRows[(n * slots) + s] = unique.Add(keys[s]);
            }

            rows[n++] = i;
        }

        return n;
    }

    /// <summary>One tensor row → normalised dense values (NaN = missing, as an empty field of a
    /// line) and keys: the client's, or its tokens hashed with this model's scheme.</summary>
    private void TensorRow(TensorRows tensors, int row, Span<float> dense, Span<ulong> keys)
    {
        var raw = new double?[dense.Length];
        for (var d = 0; d < raw.Length; d++)
        {
            var value = tensors.Dense[(row * dense.Length) + d];
            raw[d] = float.IsNaN(value) ? null : value;
        }

        Model.Normalizer.Normalize(raw, dense);
        for (var s = 0; s < keys.Length; s++)
        {
            var at = (row * keys.Length) + s;
            keys[s] = tensors.Keys is { } given ? given[at] : FeatureHasher.Key(Model.Hash, s, tensors.Tokens![at]);
        }
    }

    /// <summary>The per-request working set kept between requests: the distinct-key map (cleared,
    /// its capacity kept) and the arrays the gather and the network read, grown to the largest
    /// request seen. A few are pooled (requests score concurrently, one per runner); more are made
    /// when all are out, and only <see cref="PoolSize"/> are kept.</summary>
    private sealed class Scratch
    {
        private const int PoolSize = 16;
        private static readonly ConcurrentBag<Scratch> Pool = [];

        private float[] _vectors = [];
        private bool[] _found = [];
        private float[] _embeddings = [];
        private float[] _output = [];

        public KeyIndex Unique { get; } = new();

        public static Scratch Rent() => Pool.TryTake(out var scratch) ? scratch : new Scratch();

        public static void Return(Scratch scratch)
        {
            if (Pool.Count < PoolSize)
            {
                Pool.Add(scratch);
            }
        }

        public float[] Vectors(int length) => Grown(ref _vectors, length);

        public bool[] Found(int length) => Grown(ref _found, length);

        public float[] Embeddings(int length) => Grown(ref _embeddings, length);

        public float[] Output(int length) => Grown(ref _output, length);

        private static T[] Grown<T>(ref T[] array, int length)
        {
            if (array.Length < length)
            {
                array = new T[length];
            }

            return array;
        }
    }
}
