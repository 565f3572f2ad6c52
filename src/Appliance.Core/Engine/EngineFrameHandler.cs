using Appliance.Core.Protocol;

namespace Appliance.Core.Engine;

/// <summary>The engine on the binary protocol: ping, and predict (answered when its network run
/// completes; see <see cref="PredictCodec"/>).</summary>
internal sealed class EngineFrameHandler(EngineRole engine) : IAsyncFrameHandler
{
    public bool IsAsync(Opcode opcode) => opcode == Opcode.Predict;

    public void Handle(in FrameHeader header, ReadOnlySpan<byte> payload, FrameBuffer output)
    {
        if (header.Opcode == Opcode.Ping)
        {
            output.BeginFrame(Opcode.Ping, FrameFlags.Response, header.RequestId);
            output.Write(payload);
            output.EndFrame();
            return;
        }

        output.WriteError(header.Opcode, header.RequestId, ErrorCode.UnknownOpcode, $"opcode {(byte)header.Opcode} is not served by the engine");
    }

    public async Task HandleAsync(FrameHeader header, ReadOnlyMemory<byte> payload, FrameBuffer output)
    {
        (string Variant, List<string> Lines) request;
        try
        {
            request = PredictCodec.ReadRequest(payload.Span, engine.Options.MaxSamples);
        }
        catch (ProtocolException e)
        {
            output.WriteError(Opcode.Predict, header.RequestId, ErrorCode.BadRequest, e.Message);
            return;
        }

        var outcome = await engine.PredictAsync(request.Lines, request.Variant.Length == 0 ? null : request.Variant, CancellationToken.None).ConfigureAwait(false);
        if (outcome.Response is { } response)
        {
            PredictCodec.WriteResponse(output, header.RequestId, response.ModelVersion, response.Variant, response.Scores, response.Errors);
        }
        else
        {
            output.WriteError(Opcode.Predict, header.RequestId, outcome.Refusal.WireCode, outcome.Refusal.Message);
        }
    }
}
