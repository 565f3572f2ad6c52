using System.Buffers.Binary;
using System.Text;

namespace Appliance.Core.Protocol;

/// <summary>
/// Payloads of the predict opcode (docs/protocol.md), little-endian:
/// <code>
/// request:  u16 variant length | variant (UTF-8; empty = chosen by weight)
///           | u32 N | N × (u32 length | Criteo line, UTF-8)
/// response: u16 version length | model version | u16 variant length | variant
///           | u32 N | N × f32 P(click) (NaN for a refused sample)
///           | u32 E | E × (u32 sample index | u16 length | error message)
/// </code>
/// </summary>
internal static class PredictCodec
{
    public static void WriteRequest(FrameBuffer buffer, uint requestId, string variant, IReadOnlyList<string> lines)
    {
        buffer.BeginFrame(Opcode.Predict, FrameFlags.None, requestId);
        buffer.WriteShortString(variant);
        buffer.WriteUInt32((uint)lines.Count);
        foreach (var line in lines)
        {
            var bytes = Encoding.UTF8.GetBytes(line);
            buffer.WriteUInt32((uint)bytes.Length);
            buffer.Write(bytes);
        }

        buffer.EndFrame();
    }

    public static (string Variant, List<string> Lines) ReadRequest(ReadOnlySpan<byte> payload, int maxSamples = int.MaxValue)
    {
        var reader = new PayloadReader(payload);
        var variant = reader.ReadShortString("variant");
        var count = reader.ReadUInt32("sample count");
        if (count > maxSamples)
        {
            throw new ProtocolException($"{count} samples; at most {maxSamples} per request (--max-samples)");
        }

        if (count > (uint)reader.Remaining / 4)
        {
            throw new ProtocolException($"sample count {count} does not fit the {reader.Remaining} bytes left");
        }

        var lines = new List<string>((int)count);
        for (var i = 0; i < count; i++)
        {
            var length = reader.ReadUInt32("line length");
            if (length > (uint)reader.Remaining)
            {
                throw new ProtocolException($"sample {i}: line length {length} exceeds the {reader.Remaining} bytes left");
            }

            lines.Add(Encoding.UTF8.GetString(reader.ReadBytes((int)length, "line")));
        }

        reader.ExpectEnd("predict request");
        return (variant, lines);
    }

    public static void WriteResponse(FrameBuffer buffer, uint requestId, string version, string variant, IReadOnlyList<float?> scores, IReadOnlyList<string?> errors)
    {
        buffer.BeginFrame(Opcode.Predict, FrameFlags.Response, requestId);
        buffer.WriteShortString(version);
        buffer.WriteShortString(variant);
        buffer.WriteUInt32((uint)scores.Count);
        foreach (var score in scores)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer.GetSpan(4), score ?? float.NaN);
            buffer.Advance(4);
        }

        var refused = errors.Select((e, i) => (e, i)).Where(x => x.e is not null).ToList();
        buffer.WriteUInt32((uint)refused.Count);
        foreach (var (error, index) in refused)
        {
            buffer.WriteUInt32((uint)index);
            buffer.WriteShortString(error!);
        }

        buffer.EndFrame();
    }

    public static (string Version, string Variant, float[] Scores, Dictionary<int, string> Errors) ReadResponse(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var version = reader.ReadShortString("model version");
        var variant = reader.ReadShortString("variant");
        var count = reader.ReadUInt32("sample count");
        var scores = new float[checked((int)count)];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = BinaryPrimitives.ReadSingleLittleEndian(reader.ReadBytes(4, "score"));
        }

        var errors = new Dictionary<int, string>();
        var refused = reader.ReadUInt32("error count");
        for (var i = 0; i < refused; i++)
        {
            var index = (int)reader.ReadUInt32("sample index");
            errors[index] = reader.ReadShortString("error message");
        }

        reader.ExpectEnd("predict response");
        return (version, variant, scores, errors);
    }
}
