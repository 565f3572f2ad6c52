using System.Diagnostics;
using Appliance.Core.Brpc;
using Appliance.Core.Storage;

namespace Appliance.Core.Serving;

/// <summary>
/// <c>rec.mcube.DictService.seek</c>, the original clients' lookup, through the same lookup, limits,
/// readiness and metrics as the binary protocol's: one value per requested key in request order
/// (duplicates answered each time), status 0 and the row when found — as float32 little-endian,
/// decoded from the table's codec, the bytes an original client reads — <see cref="DictResponse.NotFound"/>
/// and no bytes when not; the version label (<c>base</c> or <c>base_patch</c>) when asked.
/// </summary>
internal sealed partial class ShardService : IDictService
{
    public void Seek(ReadOnlySpan<byte> request, BaiduStdReply reply)
    {
        Stats.Request();
        var started = LatencyHistograms ? Stopwatch.GetTimestamp() : 0;
        try
        {
            SeekOnce(request, reply);
        }
        catch (ProtoFormatException)
        {
            Stats.Error();
            throw; // the session answers EREQUEST with the offset at fault
        }
        finally
        {
            if (LatencyHistograms)
            {
                _lookupLatency.Observe(Stopwatch.GetElapsedTime(started));
            }
        }
    }

    /// <summary>For a front door that writes its answer while the version is held (HTTP):
    /// <paramref name="write"/> gets the live view the keys were looked up in, or null when none is
    /// live yet (answer not-ready) or when a key could not be read (with the reason).</summary>
    internal void Seek(ReadOnlySpan<ulong> keys, Span<ValueRef> results, Action<ShardView?, string?> write)
    {
        Stats.Request();
        var started = LatencyHistograms ? Stopwatch.GetTimestamp() : 0;
        using (var lease = Store.Acquire())
        {
            write(LookUp(lease, keys, results, out var failure), failure);
        }

        if (LatencyHistograms)
        {
            _lookupLatency.Observe(Stopwatch.GetElapsedTime(started));
        }
    }

    private void SeekOnce(ReadOnlySpan<byte> request, BaiduStdReply reply)
    {
        // Sized by the request's bytes, which have arrived: every key takes at least one.
        var scratch = t_scratch ??= new Scratch();
        scratch.Ensure(Math.Min(request.Length, MaxKeysPerRequest));
        var count = DictRequest.Read(request, scratch.Keys.AsSpan(0, Math.Min(request.Length, MaxKeysPerRequest)), out var versionRequired);
        if (count > MaxKeysPerRequest)
        {
            Stats.Error();
            reply.Error(BrpcError.Limit, $"{count} keys in one seek: at most {MaxKeysPerRequest} (split the request)");
            return;
        }

        var results = scratch.Results.AsSpan(0, count);
        using var lease = Store.Acquire();
        if (LookUp(lease, scratch.Keys.AsSpan(0, count), results, out var failure) is not { } view)
        {
            // Both send brpc's client to another replica, which may have the version, or a disk.
            reply.Error(BrpcError.LogOff, failure ?? NotReadyMessage);
            return;
        }

        // Raw and f32 rows go out as stored (the common case, one copy each); f16 and i8 rows are
        // decoded to the float32 an original client reads.
        var codec = view.Codec;
        var asStored = codec is ValueCodec.Raw or ValueCodec.F32;
        var label = LabelOf(view);
        var size = versionRequired ? ProtoWire.LengthDelimitedSize(DictResponse.VersionField, label.Length) : 0;
        foreach (var r in results)
        {
            size += !r.Found ? DictResponse.MissingValue.Length
                : DictResponse.FoundSize(asStored ? r.Length : ValueCodecs.Float32Length(codec, r.Length));
        }

        var payload = reply.BeginPayload(size);
        var n = 0;
        foreach (var r in results)
        {
            if (!r.Found)
            {
                DictResponse.MissingValue.CopyTo(payload[n..]);
                n += DictResponse.MissingValue.Length;
            }
            else if (asStored)
            {
                n += DictResponse.WriteFound(payload[n..], r.Span);
            }
            else
            {
                var length = ValueCodecs.Float32Length(codec, r.Length);
                n += DictResponse.WriteValueHeader(payload[n..], 0, length);
                ValueCodecs.DecodeToFloat32(codec, r.Span, payload.Slice(n, length));
                n += length;
            }
        }

        if (versionRequired)
        {
            n += ProtoWire.WriteTag(payload[n..], DictResponse.VersionField, ProtoWire.LengthDelimited);
            n += ProtoWire.WriteVarint(payload[n..], (ulong)label.Length);
            label.CopyTo(payload[n..]);
            n += label.Length;
        }

        Debug.Assert(n == size, "the DictResponse's size was computed before it was written");
        reply.Commit();
    }
}
