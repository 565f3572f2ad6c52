using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Appliance.Core.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Appliance.Core.Engine.Oip;

/// <summary>
/// The Open Inference Protocol (KServe v2) REST API on the engine's HTTP port, beside
/// <c>/predict</c> (kserve/open-inference-protocol, inference_rest.md). Models are the engine's
/// variants (their directory names); a model's version is its live package's timestamp.
/// <list type="bullet">
/// <item>Inputs: <c>lines</c> BYTES [N] (Criteo lines), or <c>dense</c> FP32 [N,13] (NaN or null:
/// missing) with <c>sparse</c> BYTES [N,26] (tokens, hashed here with the model's scheme) or
/// INT64/UINT64 [N,26] (keys already hashed; INT64 carries a uint64 key's bits).</item>
/// <item>Output: FP32 [N,1], P(click), under the model's output name. A sample the engine cannot
/// score fails the request (400, the sample named): a tensor has no per-element error.</item>
/// <item>Binary tensor data extension: <c>Inference-Header-Content-Length</c> in, and
/// <c>binary_data_output</c> / an output's <c>binary_data</c> for raw float32 out.</item>
/// <item>Errors: <c>{"error": "..."}</c>, 400 (request), 404 (model or version), 413 (body),
/// 503 (not ready).</item>
/// </list>
/// </summary>
internal static class OipEndpoints
{
    public const string Extension = "binary_tensor_data";
    private const string HeaderLength = "Inference-Header-Content-Length";

    public static void Map(IEndpointRouteBuilder routes, EngineRole engine)
    {
        routes.MapGet("/v2/health/live", () => Results.Json(new OipHealth { Live = true }, OipJsonContext.Readable.OipHealth));
        routes.MapGet("/v2/health/ready", () => engine.NotReadyReason() is { } reason
            ? Results.Json(new OipHealth { Ready = false, Error = reason }, OipJsonContext.Readable.OipHealth, statusCode: 400)
            : Results.Json(new OipHealth { Ready = true }, OipJsonContext.Readable.OipHealth));
        routes.MapGet("/v2", () => Results.Json(new OipServerMetadata { Version = typeof(OipEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0" }, OipJsonContext.Readable.OipServerMetadata));
        routes.MapGet("/v2/models/{model}", (string model) => Metadata(engine, model, null));
        routes.MapGet("/v2/models/{model}/versions/{version}", (string model, string version) => Metadata(engine, model, version));
        routes.MapGet("/v2/models/{model}/ready", (string model) => Ready(engine, model, null));
        routes.MapGet("/v2/models/{model}/versions/{version}/ready", (string model, string version) => Ready(engine, model, version));
        routes.MapPost("/v2/models/{model}/infer", (HttpContext context, string model) => InferAsync(context, engine, model, null));
        routes.MapPost("/v2/models/{model}/versions/{version}/infer", (HttpContext context, string model, string version) => InferAsync(context, engine, model, version));
    }

    private static IResult Error(int status, string message) =>
        Results.Json(new OipError { Error = message }, OipJsonContext.Readable.OipError, statusCode: status);

    /// <summary>The variant named, or why not (404).</summary>
    private static ModelVariant? Find(EngineRole engine, string model, string? version, out IResult? error)
    {
        try
        {
            error = null;
            return Variant(engine, model, version);
        }
        catch (OipException e)
        {
            error = Error(e.Status, e.Message);
            return null;
        }
    }

    /// <summary>The variant named (and its live version, if one is named); else an
    /// <see cref="OipException"/> with 404. Shared with the gRPC service.</summary>
    internal static ModelVariant Variant(EngineRole engine, string model, string? version)
    {
        var variant = engine.Variants.FirstOrDefault(v => v.Name == model)
            ?? throw new OipException($"no model '{model}' (models: {string.Join(", ", engine.Variants.Select(v => v.Name))})", 404);
        var live = variant.Engine.Model.Timestamp;
        return version is null || version == live ? variant : throw new OipException($"model '{model}' version '{version}' is not loaded (the live version is {live})", 404);
    }

    private static IResult Metadata(EngineRole engine, string model, string? version)
    {
        if (Find(engine, model, version, out var error) is not { } variant)
        {
            return error!;
        }

        var spec = variant.Engine.Model.Spec;
        return Results.Json(new OipModelMetadata
        {
            Name = variant.Name,
            Versions = [variant.Engine.Model.Timestamp],
            Inputs =
            [
                new OipTensorMetadata { Name = "lines", Datatype = "BYTES", Shape = [-1] },
                new OipTensorMetadata { Name = "dense", Datatype = "FP32", Shape = [-1, spec.DenseWidth] },
                new OipTensorMetadata { Name = "sparse", Datatype = "BYTES", Shape = [-1, spec.SparseSlots], Parameters = new OipTensorParameters { Datatypes = ["BYTES", "INT64", "UINT64"] } },
            ],
            Outputs = [new OipTensorMetadata { Name = spec.Output, Datatype = "FP32", Shape = [-1, 1] }],
        }, OipJsonContext.Readable.OipModelMetadata);
    }

    private static IResult Ready(EngineRole engine, string model, string? version)
    {
        if (Find(engine, model, version, out var error) is not { } variant)
        {
            return error!;
        }

        var reason = engine.NotReadyReason(variant);
        return Results.Json(new OipModelReady { Name = variant.Name, Ready = reason is null, Error = reason }, OipJsonContext.Readable.OipModelReady, statusCode: reason is null ? 200 : 400);
    }

    private static async Task InferAsync(HttpContext context, EngineRole engine, string model, string? version)
    {
        IResult result;
        try
        {
            result = await InferCoreAsync(context, engine, model, version).ConfigureAwait(false);
        }
        catch (OipException e)
        {
            result = Error(e.Status, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            result = Error(e.StatusCode, e.StatusCode == 413 ? $"{e.Message} (--max-body-mb is {engine.Options.MaxBodyBytes >> 20})" : e.Message);
        }

        await result.ExecuteAsync(context).ConfigureAwait(false);
    }

    private static async Task<IResult> InferCoreAsync(HttpContext context, EngineRole engine, string model, string? version)
    {
        if (Find(engine, model, version, out var error) is not { } variant)
        {
            return error!;
        }

        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = engine.Options.MaxBodyBytes;
        }

        // Pooled: the request read from it (OipRequest.Read) owns copies of everything it keeps.
        using var body = await PooledBody.ReadAsync(context.Request, engine.Options.MaxBodyBytes, context.RequestAborted).ConfigureAwait(false);
        var bytes = body.Memory;
        var jsonLength = bytes.Length;
        if (context.Request.Headers.TryGetValue(HeaderLength, out var header))
        {
            if (!int.TryParse(header.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out jsonLength) || jsonLength > bytes.Length)
            {
                throw new OipException($"{HeaderLength} '{header}' is not a length within the {bytes.Length}-byte body");
            }
        }

        var request = OipRequest.Read(bytes[..jsonLength], bytes.Span[jsonLength..]);
        var spec = variant.Engine.Model.Spec;
        var samples = Samples(request.Inputs, spec, engine.Options.MaxSamples);
        var outputName = spec.Output;
        foreach (var (name, _) in request.Outputs)
        {
            if (name != outputName)
            {
                throw new OipException($"output '{name}' is not produced (the model's output is '{outputName}')");
            }
        }

        var outcome = await engine.PredictAsync(samples, variant.Name, context.RequestAborted).ConfigureAwait(false);
        if (outcome.Response is not { } answer)
        {
            return Error(outcome.Refusal.HttpStatus, outcome.Refusal.Message);
        }

        if (answer.Errors.Select((e, i) => (e, i)).FirstOrDefault(x => x.e is not null) is { e: { } why } failed)
        {
            throw new OipException($"sample {failed.i}: {why}");
        }

        if (version is not null && answer.ModelVersion != version)
        {
            return Error(404, $"model '{model}' version '{version}' was replaced by {answer.ModelVersion} during the request; ask again");
        }

        var binary = request.BinaryOutput || request.Outputs.Any(o => o.Binary);
        return new InferResult(request.Id, variant.Name, answer, outputName, binary);
    }

    /// <summary>The request's tensors as engine samples, checked against the model's shapes (REST and gRPC).</summary>
    internal static EngineSample[] Samples(IReadOnlyList<OipTensor> inputs, ModelSpec spec, int maxSamples)
    {
        OipTensor? lines = null, dense = null, sparse = null;
        foreach (var input in inputs)
        {
            switch (input.Name)
            {
                case "lines" when input.Datatype == "BYTES":
                    lines = input;
                    break;
                case "dense" when input.Datatype == "FP32":
                    dense = input;
                    break;
                case "sparse" when input.Datatype is "BYTES" or "INT64" or "UINT64":
                    sparse = input;
                    break;
                case "lines" or "dense" or "sparse":
                    throw new OipException($"input {input.Name}: datatype {input.Datatype} is not taken (lines BYTES, dense FP32, sparse BYTES/INT64/UINT64)");
                default:
                    throw new OipException($"input '{input.Name}' is not taken (lines, or dense with sparse)");
            }
        }

        if (lines is not null)
        {
            if (dense is not null || sparse is not null)
            {
                throw new OipException("give lines, or dense with sparse, not both");
            }

            Cap(lines.Count, maxSamples);
            return [.. lines.Strings!.Select(EngineSample.FromLine)];
        }

        if (dense is null || sparse is null)
        {
            throw new OipException("give lines (BYTES [N]), or dense (FP32 [N,13]) with sparse (BYTES or INT64 [N,26])");
        }

        var n = dense.Shape.Length == 2 && dense.Shape[1] == spec.DenseWidth ? (int)dense.Shape[0] : throw new OipException($"input dense: shape [{string.Join(",", dense.Shape)}], the model takes [N,{spec.DenseWidth}]");
        if (sparse.Shape.Length != 2 || sparse.Shape[0] != n || sparse.Shape[1] != spec.SparseSlots)
        {
            throw new OipException($"input sparse: shape [{string.Join(",", sparse.Shape)}], the model takes [{n},{spec.SparseSlots}] with dense [{n},{spec.DenseWidth}]");
        }

        Cap(n, maxSamples);
        var rows = new TensorRows(n, dense.Floats!, sparse.Strings, sparse.Integers);
        var samples = new EngineSample[n];
        for (var i = 0; i < n; i++)
        {
            samples[i] = EngineSample.FromTensors(rows, i);
        }

        return samples;
    }

    private static void Cap(int count, int maxSamples)
    {
        if (count > maxSamples)
        {
            throw new OipException($"{count} samples; at most {maxSamples} per request (--max-samples)", overLimit: true);
        }
    }

    /// <summary>The infer response: JSON, or (binary data asked for) JSON then the scores as
    /// float32 little-endian, with the JSON's length in Inference-Header-Content-Length.</summary>
    private sealed class InferResult(string? id, string model, PredictResponse answer, string output, bool binary) : IResult
    {
        public async Task ExecuteAsync(HttpContext context)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var count = answer.Scores.Count;
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("model_name", model);
                json.WriteString("model_version", answer.ModelVersion);
                if (id is not null)
                {
                    json.WriteString("id", id);
                }

                json.WriteStartObject("parameters");
                json.WriteNumber("missing_keys", answer.MissingKeys);
                json.WriteNumber("unavailable_keys", answer.UnavailableKeys);
                json.WriteEndObject();
                json.WriteStartArray("outputs");
                json.WriteStartObject();
                json.WriteString("name", output);
                json.WriteString("datatype", "FP32");
                json.WriteStartArray("shape");
                json.WriteNumberValue(count);
                json.WriteNumberValue(1);
                json.WriteEndArray();
                if (binary)
                {
                    json.WriteStartObject("parameters");
                    json.WriteNumber("binary_data_size", count * 4);
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteStartArray("data");
                    foreach (var score in answer.Scores)
                    {
                        json.WriteNumberValue(score!.Value);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteEndObject();
            }

            var jsonLength = buffer.WrittenCount;
            if (binary)
            {
                var span = buffer.GetSpan(count * 4);
                for (var i = 0; i < count; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(span[(i * 4)..], answer.Scores[i]!.Value);
                }

                buffer.Advance(count * 4);
                context.Response.Headers[HeaderLength] = jsonLength.ToString(CultureInfo.InvariantCulture);
                context.Response.ContentType = "application/octet-stream";
            }
            else
            {
                context.Response.ContentType = "application/json";
            }

            context.Response.ContentLength = buffer.WrittenCount;
            await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
        }
    }
}
