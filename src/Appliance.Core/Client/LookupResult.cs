using Appliance.Core.Protocol;

namespace Appliance.Core.Client;

/// <summary>
/// The answer to a cluster lookup, in request order: a status per key, the value bytes of found
/// keys (slices of the shards' reply frames, valid until dispose), and per-shard versions and errors.
/// </summary>
internal sealed class LookupResult : IDisposable
{
    private readonly ShardAnswer?[] _answers;
    private readonly (int Shard, int Offset, int Length)[] _values;

    internal LookupResult(KeyStatus[] status, (int, int, int)[] values, ShardAnswer?[] answers, string?[] versions, Storage.ValueCodec codec)
    {
        Codec = codec;
        Status = status;
        _values = values;
        _answers = answers;
        ShardVersions = versions;
    }

    public KeyStatus[] Status { get; }

    /// <summary>How the values are encoded (from the shards' replies).</summary>
    public Storage.ValueCodec Codec { get; }

    /// <summary>Version label each shard answered with (null: shard not asked or failed).</summary>
    public IReadOnlyList<string?> ShardVersions { get; }

    /// <summary>Why each failed shard failed (null where it answered or was not asked).</summary>
    public IEnumerable<(int Shard, string Error)> Errors =>
        _answers.Select((a, i) => (i, a)).Where(x => x.a is { Succeeded: false }).Select(x => (x.i, x.a!.Error!));

    public int Count => Status.Length;

    public int FailedKeys => Status.Count(s => s == KeyStatus.Failed);

    public ReadOnlySpan<byte> Value(int index)
    {
        var (shard, offset, length) = _values[index];
        return Status[index] == KeyStatus.Found ? _answers[shard]!.Reply!.Payload.Slice(offset, length) : default;
    }

    public void Dispose()
    {
        foreach (var answer in _answers)
        {
            answer?.Dispose();
        }
    }
}
