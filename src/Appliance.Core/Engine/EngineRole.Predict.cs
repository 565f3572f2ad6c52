using System.Buffers;
using System.Net;
using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;
using Microsoft.AspNetCore.Http;

namespace Appliance.Core.Engine;

/// <summary>Prediction: a request's samples scored by a variant, or refused with the reason, and
/// <c>POST /predict</c> on the HTTP port.</summary>
internal sealed partial class EngineRole
{
    public Task<PredictOutcome> PredictAsync(IReadOnlyList<string> lines, string? variantName, CancellationToken cancellationToken) =>
        PredictAsync(EngineSample.FromLines(lines), variantName, cancellationToken);

    /// <summary>Scores the samples with the chosen (or a weighted random) variant: the response, or
    /// a <see cref="Refusal"/> — the one place where what went wrong becomes what the client is told.</summary>
    public async Task<PredictOutcome> PredictAsync(IReadOnlyList<EngineSample> lines, string? variantName, CancellationToken cancellationToken)
    {
        if (lines.Count > Options.MaxSamples)
        {
            return new Refusal(RefusalKind.OverLimit, $"{lines.Count} samples; at most {Options.MaxSamples} per request (--max-samples)");
        }

        if (Choose(variantName) is not { } variant)
        {
            return new Refusal(RefusalKind.BadRequest, $"no model variant '{variantName}' (variants: {string.Join(", ", _variants.Select(v => v.Name))})");
        }

        if (NotReadyReason(variant) is { } reason)
        {
            Interlocked.Increment(ref _notReady);
            return new Refusal(RefusalKind.NotReady, reason);
        }

        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _samples, lines.Count);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        ScoreResult result;
        try
        {
            result = await variant.ScoreAsync(lines, cancellationToken).ConfigureAwait(false);
        }
        catch (TableMismatchException e)
        {
            // Not a passing state: every request would fail the same way until a new table or
            // model arrives, so readiness says so (a load balancer stops sending traffic).
            Volatile.Write(ref _misfit, new Misfit(variant.Name, variant.Engine.Model.Timestamp, _source.ServedVersion, e.Message));
            Interlocked.Increment(ref _mismatches);
            if (_mismatchLog.ShouldLog(e.Message, out var heldBack))
            {
                ControlLog.ModelRefused(_logger, "(table)", $"{e.Message} ({heldBack} identical refusal(s) since the last one logged)");
            }

            return new Refusal(RefusalKind.TableMismatch, e.Message);
        }
        catch (EmbeddingUnavailableException e)
        {
            return new Refusal(RefusalKind.ShardUnavailable, e.Message);
        }
        catch (EngineNotReadyException e)
        {
            return new Refusal(RefusalKind.NotReady, e.Message); // the model was switched during the request
        }
        catch (ArgumentException e)
        {
            return new Refusal(RefusalKind.BadRequest, e.Message);
        }

        Timings.Predict.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        if (result.UnavailableKeys > 0 && _degradedLog.ShouldLog("degraded", out var degradedHeldBack))
        {
            ControlLog.Degraded(_logger, result.UnavailableKeys, degradedHeldBack);
        }

        return new PredictResponse { ModelVersion = result.ModelVersion, Variant = variant.Name, Scores = result.Scores, Errors = result.Errors, MissingKeys = result.MissingKeys, UnavailableKeys = result.UnavailableKeys };
    }

    private async Task PredictAsync(HttpContext context)
    {
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = Options.MaxBodyBytes;
        }

        PredictInput input;
        try
        {
            // Read whole (bounded by --max-body-mb above), counted, and only then deserialized.
            using var body = await PooledBody.ReadAsync(context.Request, Options.MaxBodyBytes, context.RequestAborted).ConfigureAwait(false);
            input = PredictBody.Read(body.Memory.Span, Options.MaxSamples);
        }
        catch (ArgumentException e)
        {
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonError.Body(e.Message)).ConfigureAwait(false);
            return;
        }
        catch (JsonException e)
        {
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonError.Body($"body is not a predict request: {Formats.JsonErrorText.Describe(e, "lines, variant, samples")}")).ConfigureAwait(false);
            return;
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            // Over --max-body-mb (413) or a body that stopped arriving: refused before parsing.
            context.Response.StatusCode = e.StatusCode;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonError.Body($"{e.Message} (--max-body-mb is {Options.MaxBodyBytes >> 20})")).ConfigureAwait(false);
            return;
        }

        using var _ = input;
        // Not cancelled when the client leaves: the lines lie in the input's pooled buffer, which
        // may go back to the pool only after the network run that reads them is over.
        var outcome = await PredictAsync(input.Samples, input.Variant, CancellationToken.None).ConfigureAwait(false);
        if (outcome.Response is not { } response)
        {
            context.Response.StatusCode = outcome.Refusal.HttpStatus;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonError.Body(outcome.Refusal.Message)).ConfigureAwait(false);
            return;
        }

        // Compact, and written whole with its Content-Length: one send, no chunked framing.
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(json, response, EngineJsonContext.Default.PredictResponse);
        }

        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }
}
