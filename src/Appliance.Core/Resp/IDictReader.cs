using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Resp;

/// <summary>
/// Rows of dicts read by key, for the fronts that are not the binary protocol: RESP (a server's
/// <c>--resp-port</c>, the proxy) and a server's <c>GET /lookup</c>. Behind it, one shard served
/// in this process (<c>Serving.ShardDictReader</c>) or the whole cluster through the native client
/// (<c>Proxy.ClusterDictReader</c>). A lookup may complete at once (a local shard: no allocation,
/// no task) or later (the cluster).
/// </summary>
internal interface IDictReader
{
    /// <summary>True when every lookup completes before <see cref="LookupAsync"/> returns (so the
    /// caller may reuse the key array at once).</summary>
    bool AnswersAtOnce { get; }

    /// <summary>The dict GET/MGET/EXISTS read; HGET/HMGET name theirs.</summary>
    string DefaultDict { get; }

    /// <summary>True when <paramref name="dict"/> is served here.</summary>
    bool Serves(string dict);

    /// <summary>Looks <paramref name="keys"/> up in <paramref name="dict"/>. The rows stay valid
    /// until the answer is disposed.</summary>
    ValueTask<KeyRows> LookupAsync(string dict, ulong[] keys, int count);

    /// <summary>The shard that holds <paramref name="key"/> when it is not this reader's (a shard
    /// server answers for its own shard only), else null. GET /lookup says so instead of "missing".</summary>
    int? OtherShardOf(ulong key) => null;

    /// <summary>For INFO and DBSIZE.</summary>
    DictReaderInfo Info();
}

/// <summary>The reader as INFO and DBSIZE show it (<paramref name="Keys"/> null: not known here).</summary>
internal sealed record DictReaderInfo(string Role, long? Keys, string Version, string Description);

/// <summary>The answer to one lookup: per key found (its stored row and the table's codec),
/// missing, or failed (its shard could not answer: an error reply, never a nil).</summary>
internal abstract class KeyRows : IDisposable
{
    public abstract int Count { get; }

    public abstract ValueCodec Codec { get; }

    public abstract KeyStatus Status(int index);

    /// <summary>The stored bytes of a found key.</summary>
    public abstract ReadOnlySpan<byte> Row(int index);

    /// <summary>Why a failed key failed.</summary>
    public abstract string Error(int index);

    /// <summary>The rows as the store gave them, one per key, when this answer is one live
    /// store's: a reply of many keys is written from them without two calls per key (found: a
    /// pointer; missing: none; failed: <see cref="ValueRef.IsFailed"/>, its reason from
    /// <see cref="Error"/>). False otherwise: read key by key.</summary>
    public virtual bool TryGetRefs(out ReadOnlySpan<ValueRef> refs)
    {
        refs = default;
        return false;
    }

    public virtual void Dispose()
    {
        GC.SuppressFinalize(this);
    }
}
