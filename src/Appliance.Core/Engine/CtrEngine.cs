using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>
/// Criteo lines → P(click): parse (a bad line is that sample's error, the rest are scored),
/// normalise the dense values, hash the 26 tokens to keys, fetch each distinct key once, decode
/// (missing keys are zero vectors and counted), run the network.
/// </summary>
public sealed class CtrEngine(ModelPackage model, IEmbeddingSource source, EngineTimings? timings = null)
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
        var rows = new List<int>(lines.Count);
        var dense = new float[lines.Count * spec.DenseWidth];
        var slotKeys = new ulong[lines.Count * slots];
        var unique = new Dictionary<ulong, int>();
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].Rows is { } tensors)
            {
                // Tensors were checked for shape where they were read (OIP): no per-sample error.
                var at = rows.Count;
                rows.Add(i);
                TensorRow(tensors, lines[i].Row, dense.AsSpan(at * spec.DenseWidth, spec.DenseWidth), slotKeys.AsSpan(at * slots, slots));
                for (var s = 0; s < slots; s++)
                {
                    unique.TryAdd(slotKeys[(at * slots) + s], unique.Count);
                }

                continue;
            }

            CriteoSample sample;
            try
            {
                sample = CriteoSample.Parse(lines[i].Line);
            }
            catch (FormatException e)
            {
                errors[i] = e.Message;
                continue;
            }

            var row = rows.Count;
            rows.Add(i);
            Model.Normalizer.Normalize(sample.Dense, dense.AsSpan(row * spec.DenseWidth, spec.DenseWidth));
            for (var s = 0; s < slots; s++)
            {
                var key = FeatureHasher.Key(Model.Hash, s, sample.Sparse[s]);
                slotKeys[(row * slots) + s] = key;
                unique.TryAdd(key, unique.Count);
            }
        }

        var n = rows.Count;
        var scores = new float?[lines.Count];
        var missing = 0;
        var nonFinite = 0;
        var table = TableSpan.None;
        if (n > 0)
        {
            var keys = new ulong[unique.Count];
            foreach (var (key, index) in unique)
            {
                keys[index] = key;
            }

            _timings.ParseHash.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            var gathering = System.Diagnostics.Stopwatch.GetTimestamp();
            var vectors = new float[keys.Length * dim];
            var found = new bool[keys.Length];
            table = await source.GatherAsync(keys, vectors, dim, Model.Codec, found, cancellationToken).ConfigureAwait(false);
            foreach (var f in found)
            {
                missing += f ? 0 : 1;
            }

            missing -= table.Unavailable; // counted on their own: not the table's gaps but a shard's failure

            var embeddings = new float[n * slots * dim];
            for (var r = 0; r < n; r++)
            {
                for (var s = 0; s < slots; s++)
                {
                    var index = unique[slotKeys[(r * slots) + s]];
                    vectors.AsSpan(index * dim, dim).CopyTo(embeddings.AsSpan(((r * slots) + s) * dim));
                }
            }

            _timings.Gather.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(gathering));
            var running = System.Diagnostics.Stopwatch.GetTimestamp();
            var output = Model.Scorer.Score(spec.EmbeddingsInput, embeddings, slots * dim, spec.DenseInput, dense.AsSpan(0, n * spec.DenseWidth).ToArray(), spec.DenseWidth, spec.Output, n);
            _timings.Network.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(running));
            var width = output.Length / n;
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

        Interlocked.Add(ref _samples, n - nonFinite);
        Interlocked.Add(ref _misses, missing);
        if (table.Unavailable > 0)
        {
            Interlocked.Add(ref _unavailable, table.Unavailable);
            Interlocked.Increment(ref _degraded);
        }
        Interlocked.Add(ref _errors, lines.Count - n + nonFinite);
        return new ScoreResult(scores, errors, unique.Count, missing, Model.Timestamp) { Table = table };
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
}
