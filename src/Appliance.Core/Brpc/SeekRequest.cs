using Appliance.Core.Buffers;

namespace Appliance.Core.Brpc;

/// <summary>Frames a whole <c>rec.mcube.DictService.seek</c> request packet (header, request meta,
/// DictRequest), as the original C++ cube-api sends it: the client side's one place for framing.</summary>
internal static class SeekRequest
{
    public static void Write(OutputBuffer output, long correlationId, ReadOnlySpan<ulong> keys, bool versionRequired = false, long logId = 0)
    {
        var meta = RpcMeta.RequestSize(BaiduStdSession.ServiceName, BaiduStdSession.MethodName, logId, correlationId);
        var payload = DictRequest.Size(keys, versionRequired);
        var total = BaiduStdHeader.Size + meta + payload;
        var span = output.GetSpan(total);
        new BaiduStdHeader(meta + payload, meta).Write(span);
        RpcMeta.WriteRequest(span[BaiduStdHeader.Size..], BaiduStdSession.ServiceName, BaiduStdSession.MethodName, logId, correlationId);
        DictRequest.Write(span[(BaiduStdHeader.Size + meta)..], keys, versionRequired);
        output.Advance(total);
    }
}
