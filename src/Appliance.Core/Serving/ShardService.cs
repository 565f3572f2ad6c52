using System.Text;
using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Appliance.Core.Net;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Serving;

/// <summary>
/// The server role's request handler: ping, lookup and status against one shard of one dict.
/// Request errors (unknown dict, malformed payload, unknown opcode) are error replies; the
/// connection stays open. While no version is live a lookup is answered NotReady (never "every key
/// missing", which would look right): the client tries another replica or fails the keys.
/// </summary>
internal sealed partial class ShardService : IFrameHandler
{
    /// <summary>Keys per lookup request accepted (a request is one shard's part of a batch).</summary>
    public const int MaxKeysPerRequest = 1 << 20;

    [ThreadStatic]
    private static Scratch? t_scratch;

    private readonly byte[] _dictUtf8;
    private (ShardView? View, byte[] Label) _label = (null, []);

    public ShardService(string dict, int shard, ShardStore store)
    {
        Dict = dict;
        Shard = shard;
        Store = store;
        _dictUtf8 = Encoding.UTF8.GetBytes(dict);
        _recentLookups = new RecentLatency(_lookupLatency);
    }

    public string Dict { get; }

    /// <summary>False: requests are not timed (their histograms stay empty); to measure the cost.</summary>
    public bool LatencyHistograms { get; init; } = true;

    public int Shard { get; }

    public ShardStore Store { get; }

    public ServingStats Stats { get; } = new();

    /// <summary>Time to answer a request, per opcode (ping, lookup, status; others together):
    /// from the frame being whole to its reply written, on this server.</summary>
    public IReadOnlyList<(string Op, LatencyHistogram Histogram)> Latency => [("ping", _pingLatency), ("lookup", _lookupLatency), ("status", _statusLatency), ("other", _otherLatency)];

    private readonly LatencyHistogram _pingLatency = new();
    private readonly LatencyHistogram _lookupLatency = new();
    private readonly LatencyHistogram _statusLatency = new();
    private readonly LatencyHistogram _otherLatency = new();
    private readonly RecentLatency _recentLookups;

    /// <summary>Open data-plane connections, for status (set by the host).</summary>
    public Func<int> Connections { get; set; } = () => 0;

    /// <summary>Transport counters, for status (set by the host).</summary>
    public TransportStats? Transport { get; set; }

    public void Handle(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output)
    {
        Stats.Request();
        var started = LatencyHistograms ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        try
        {
            switch (header.Opcode)
            {
                case Opcode.Ping:
                    output.BeginFrame(Opcode.Ping, FrameFlags.Response, header.RequestId);
                    output.Write(payload);
                    output.EndFrame();
                    break;
                case Opcode.Lookup:
                    Lookup(header.RequestId, payload, output);
                    break;
                case Opcode.Status:
                    output.BeginFrame(Opcode.Status, FrameFlags.Response, header.RequestId);
                    output.Write(JsonSerializer.SerializeToUtf8Bytes(GetStatus(), ServingJsonContext.Default.ShardStatus));
                    output.EndFrame();
                    break;
                default:
                    Stats.Error();
                    output.WriteError(header.Opcode, header.RequestId, ErrorCode.UnknownOpcode, $"opcode {(byte)header.Opcode} is not served by a shard server");
                    break;
            }
        }
        catch (ProtocolException e)
        {
            Stats.Error();
            output.WriteError(header.Opcode, header.RequestId, ErrorCode.BadRequest, e.Message);
        }
        finally
        {
            if (LatencyHistograms)
            {
                var histogram = header.Opcode switch { Opcode.Ping => _pingLatency, Opcode.Lookup => _lookupLatency, Opcode.Status => _statusLatency, _ => _otherLatency };
                histogram.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            }
        }
    }

    public ShardStatus GetStatus()
    {
        using var lease = Store.Acquire();
        var view = lease.View;
        var recent = _recentLookups.Read();
        return new ShardStatus
        {
            Role = "server",
            Dict = Dict,
            Shard = Shard,
            LiveVersion = view?.VersionLabel ?? string.Empty,
            BaseVersion = view?.BaseVersion ?? string.Empty,
            Layers = view?.Lineage.ToList() ?? [],
            ReadLayers = view?.Layers.Count ?? 0,
            MergedPatches = view is null ? 0 : view.Patches.Count - view.UnmergedLayers,
            FoldedPatches = view?.Layers[0].Manifest.Merged?.Count ?? 0,
            Merges = Store.Merges.Count,
            Folds = Store.Merges.Folds,
            Merging = Store.Merging,
            MergeFailures = Store.Merges.Failures,
            LastMergeSeconds = Store.Merges.LastSeconds,
            LastMergeError = Store.Merges.LastError,
            RetainFrom = Store.RetainFrom,
            AnchoredPatches = Store.Anchored.Count,
            Promotions = Store.Promotions,
            PromotionFailures = Store.PromotionFailures,
            LastPromotionError = Store.LastPromotionError,
            Keys = view?.Keys ?? 0,
            BytesMapped = view?.MappedBytes ?? 0,
            InMemory = Store.InMemory,
            Disk = Store.Tier is { } tier ? DiskStatus(tier, view) : null,
            UptimeSeconds = Math.Round((DateTimeOffset.UtcNow - Stats.Started).TotalSeconds, 3),
            Requests = Stats.Requests,
            Lookups = Stats.Lookups,
            KeysLookedUp = Stats.Keys,
            Misses = Stats.Misses,
            Errors = Stats.Errors,
            Connections = Connections(),
            Switches = Store.Switches,
            Receives = Transport?.Receives ?? 0,
            Sends = Transport?.Sends ?? 0,
            BytesIn = Transport?.BytesIn ?? 0,
            BytesOut = Transport?.BytesOut ?? 0,
            LookupsPerSecond = Math.Round(recent.PerSecond, 1),
            LookupP99Seconds = recent.P99Seconds is { } p99 ? Math.Round(p99, 6) : null,
            RecentWindowSeconds = Math.Round(recent.WindowSeconds, 1),
        };
    }

    private static DiskTierStatus DiskStatus(DiskTier tier, ShardView? view)
    {
        var (counts, _) = tier.ReadLatency.Snapshot();
        var bounds = tier.ReadLatency.Bounds;
        var keys = tier.Keys;
        return new DiskTierStatus
        {
            ReadEngine = tier.Readers.Engine == ReadEngine.Uring ? "uring" : "pread",
            DirectIo = view?.Layers.All(l => l.Disk?.Direct ?? false) ?? true,
            CacheBytes = tier.Cache?.Bytes ?? 0,
            CacheRows = tier.Cache?.Rows ?? 0,
            CacheRowsFilled = tier.Cache?.Filled() ?? 0,
            Keys = keys,
            CacheHits = tier.CacheHits,
            HitRate = keys == 0 ? 0 : Math.Round((double)tier.CacheHits / keys, 4),
            DeviceReads = tier.DeviceReads,
            ReadsPerKey = keys == 0 ? 0 : Math.Round((double)tier.DeviceReads / keys, 4),
            ReadBytes = tier.ReadBytes,
            FailedKeys = tier.FailedKeys,
            Admitted = tier.Admitted,
            Prefilled = tier.Prefilled,
            ReadP50Ms = LatencyHistogram.Quantile(bounds, counts, 0.5) is { } p50 ? Math.Round(p50 * 1000, 3) : null,
            ReadP99Ms = LatencyHistogram.Quantile(bounds, counts, 0.99) is { } p99 ? Math.Round(p99 * 1000, 3) : null,
            Note = tier.Note,
        };
    }

    private void Lookup(uint requestId, ReadOnlySpan<byte> payload, FrameBuffer output)
    {
        var scratch = t_scratch ??= new Scratch();
        var capacity = Math.Min(LookupCodec.PeekKeyCount(payload), MaxKeysPerRequest);
        scratch.Ensure(capacity);
        var count = LookupCodec.ReadRequest(payload, out var dict, scratch.Keys);
        if (!dict.SequenceEqual(_dictUtf8))
        {
            Stats.Error();
            output.WriteError(Opcode.Lookup, requestId, ErrorCode.UnknownDict, $"dict '{Encoding.UTF8.GetString(dict)}' is not served here (this server serves '{Dict}' shard {Shard})");
            return;
        }

        var keys = scratch.Keys.AsSpan(0, count);
        var results = scratch.Results.AsSpan(0, count);
        using var lease = Store.Acquire();
        if (LookUp(lease, keys, results, out var failure) is not { } view)
        {
            output.WriteError(Opcode.Lookup, requestId, failure is null ? ErrorCode.NotReady : ErrorCode.Internal, failure ?? NotReadyMessage);
            return;
        }

        LookupCodec.WriteResponse(output, requestId, LabelOf(view), view.Codec, results);
    }

    /// <summary>
    /// The one lookup behind every front door (the binary protocol, baidu_std, HTTP): the keys in
    /// the version <paramref name="lease"/> holds, counted in the stats. Null when no version is
    /// live yet — the caller answers not-ready (never "every key missing", which would look right);
    /// a probe (no keys: an engine waiting for the table asks every second) is no error, so a
    /// healthy start does not trip error alerts. Null too, with <paramref name="failure"/> saying
    /// why, when a disk tier could not read a key (a device error, a file truncated under the
    /// server): the whole request fails, so the client's failure path takes it (another replica),
    /// never an answer with that key "missing".
    /// </summary>
    private ShardView? LookUp(ShardLease lease, ReadOnlySpan<ulong> keys, Span<ValueRef> results, out string? failure)
    {
        failure = null;
        if (lease.View is not { } view)
        {
            if (keys.IsEmpty)
            {
                Stats.ProbeNotReady();
            }
            else
            {
                Stats.Error();
            }

            return null;
        }

        var failed = view.Lookup(keys, results, (t_scratch ??= new Scratch()).Arena);
        if (failed > 0)
        {
            Stats.Error();
            failure = $"dict {Dict} shard {Shard}: {failed} of {keys.Length} keys could not be read from {view.Base.Directory} (device error or short read; see cube_server_disk_failed_keys_total)";
            return null;
        }

        var misses = 0;
        foreach (var r in results)
        {
            misses += r.Found ? 0 : 1;
        }

        Stats.Lookup(keys.Length, misses);
        return view;
    }

    private string NotReadyMessage => $"dict {Dict} shard {Shard}: no version is live yet (loading, or none delivered)";

    /// <summary>The live view's version label as UTF-8, computed once per view.</summary>
    private byte[] LabelOf(ShardView? view)
    {
        var cached = _label;
        if (ReferenceEquals(cached.View, view))
        {
            return cached.Label;
        }

        var label = view is null ? [] : Encoding.UTF8.GetBytes(view.VersionLabel);
        _label = (view, label);
        return label;
    }

    private sealed class Scratch
    {
        public ulong[] Keys { get; private set; } = new ulong[256];

        public ValueRef[] Results { get; private set; } = new ValueRef[256];

        /// <summary>A disk tier's values for the request being answered on this thread.</summary>
        public ValueArena Arena { get; } = new();

        public void Ensure(int count)
        {
            if (Keys.Length < count)
            {
                Keys = new ulong[count];
                Results = new ValueRef[count];
            }
        }
    }
}
