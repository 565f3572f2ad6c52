using Appliance.Core.Protocol;
using Appliance.Core.Serving;

namespace Appliance.Bench.Storage;

/// <summary>Lookup frames of the binary protocol as a server receives them, and the server's
/// whole path over them in process (<see cref="ShardService.Handle"/>: decode, lookup, reply).</summary>
internal static class LookupFrames
{
    /// <summary><paramref name="requests"/> payloads of <paramref name="batch"/> keys each, in order.</summary>
    public static byte[][] Build(ReadOnlySpan<ulong> keys, int batch, int requests, string dict)
    {
        var request = new FrameBuffer();
        var payloads = new byte[requests][];
        for (var r = 0; r < requests; r++)
        {
            request.Clear();
            LookupCodec.WriteRequest(request, (uint)r, dict, keys.Slice(r * batch, batch));
            payloads[r] = request.WrittenSpan[FrameHeader.Size..].ToArray();
        }

        return payloads;
    }

    /// <summary>Answers every payload into <paramref name="output"/>; the bytes written.</summary>
    public static int HandleAll(ShardService service, byte[][] payloads, FrameBuffer output)
    {
        var written = 0;
        for (var r = 0; r < payloads.Length; r++)
        {
            output.Clear();
            service.Handle(new FrameHeader(Opcode.Lookup, FrameFlags.None, (uint)r, payloads[r].Length), payloads[r], output);
            written += output.Length;
        }

        return written;
    }
}
