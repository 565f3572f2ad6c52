using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Storage;

namespace Appliance.Core.Serving;

/// <summary>The RESP view of the one shard this server serves: answered at once from the live
/// version; a key of another shard is not in this shard's table, so it reads as nil.</summary>
internal sealed class ShardDictReader(string served, int shard, ShardStore store) : IDictReader
{
    [ThreadStatic]
    private static Rows? t_rows;

    public bool AnswersAtOnce => true;

    public string DefaultDict => served;

    public bool Serves(string dict) => dict == served;

    public ValueTask<KeyRows> LookupAsync(string dict, ulong[] keys, int count)
    {
        var rows = t_rows ??= new Rows();
        rows.Fill(store.Acquire(), keys, count);
        return ValueTask.FromResult<KeyRows>(rows);
    }

    public int? OtherShardOf(ulong key)
    {
        using var lease = store.Acquire();
        var count = lease.View?.Base.Manifest.ShardCount ?? 0;
        return count > 0 && (int)(key % (ulong)count) is var owner && owner != shard ? owner : null;
    }

    public DictReaderInfo Info()
    {
        using var lease = store.Acquire();
        return new DictReaderInfo("server", lease.View?.Keys ?? 0, lease.View?.VersionLabel ?? string.Empty, $"dict {served} shard {shard}");
    }

    /// <summary>One thread's answer, reused: the session writes it and disposes it (releasing the
    /// version it read) before it looks anything else up.</summary>
    private sealed class Rows : KeyRows
    {
        private ShardLease? _lease;
        private ValueRef[] _refs = new ValueRef[128];
        private int _count;
        private bool _live; // a version answered (else every key failed: nothing is live yet)

        /// <summary>A disk tier's values for this answer (reset by the next Fill).</summary>
        private readonly ValueArena _arena = new();

        public override int Count => _count;

        public override ValueCodec Codec => _lease?.View?.Codec ?? ValueCodec.Raw;

        public void Fill(ShardLease lease, ulong[] keys, int count)
        {
            _lease = lease;
            _count = count;
            if (_refs.Length < count)
            {
                _refs = new ValueRef[Math.Max(count, _refs.Length * 2)];
            }

            var refs = _refs.AsSpan(0, count);
            _live = lease.View is not null;
            if (lease.View is { } view)
            {
                _ = view.Lookup(keys.AsSpan(0, count), refs, _arena); // failed keys answer Failed, one by one
            }
            else
            {
                refs.Clear(); // nothing live yet: every key fails (not "missing": the table may hold it)
            }
        }

        public override KeyStatus Status(int index) =>
            !_live || _refs[index].IsFailed ? KeyStatus.Failed : _refs[index].Found ? KeyStatus.Found : KeyStatus.Missing;

        public override ReadOnlySpan<byte> Row(int index) => _refs[index].Span;

        public override bool TryGetRefs(out ReadOnlySpan<ValueRef> refs)
        {
            refs = _live ? _refs.AsSpan(0, _count) : default;
            return _live;
        }

        public override string Error(int index) =>
            !_live ? "not ready: no version is live yet (loading, or none delivered)"
            : _refs[index].IsFailed ? "read error: the row could not be read from the device (see cube_server_disk_failed_keys_total)"
            : string.Empty;

        public override void Dispose()
        {
            _lease?.Dispose();
            _lease = null;
            _live = false;
            base.Dispose();
        }
    }
}
