using System.Text.Json.Serialization;

namespace Appliance.Core.Engine.Oip;

/// <summary>GET /v2/health/live and /v2/health/ready.</summary>
internal sealed record OipHealth
{
    public bool? Live { get; init; }

    public bool? Ready { get; init; }

    public string? Error { get; init; }
}

/// <summary>GET /v2: the server metadata.</summary>
internal sealed record OipServerMetadata
{
    public string Name { get; init; } = "cube-appliance";

    public required string Version { get; init; }

    public IReadOnlyList<string> Extensions { get; init; } = [OipEndpoints.Extension];
}

/// <summary>GET /v2/models/{model}[/versions/{version}].</summary>
internal sealed record OipModelMetadata
{
    public required string Name { get; init; }

    public required IReadOnlyList<string> Versions { get; init; }

    public string Platform { get; init; } = "onnxruntime_onnx";

    public required IReadOnlyList<OipTensorMetadata> Inputs { get; init; }

    public required IReadOnlyList<OipTensorMetadata> Outputs { get; init; }
}

internal sealed record OipTensorMetadata
{
    public required string Name { get; init; }

    public required string Datatype { get; init; }

    public required IReadOnlyList<long> Shape { get; init; }

    /// <summary>Every datatype the input takes, where it takes more than <see cref="Datatype"/>
    /// (`sparse`: tokens as BYTES, or keys as INT64/UINT64).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public OipTensorParameters? Parameters { get; init; }
}

/// <summary>The <c>parameters</c> of a tensor's metadata.</summary>
internal sealed record OipTensorParameters
{
    public required IReadOnlyList<string> Datatypes { get; init; }
}

/// <summary>GET /v2/models/{model}[/versions/{version}]/ready.</summary>
internal sealed record OipModelReady
{
    public required string Name { get; init; }

    public required bool Ready { get; init; }

    public string? Error { get; init; }
}

internal sealed record OipError
{
    public required string Error { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OipHealth))]
[JsonSerializable(typeof(OipServerMetadata))]
[JsonSerializable(typeof(OipModelMetadata))]
[JsonSerializable(typeof(OipModelReady))]
[JsonSerializable(typeof(OipError))]
internal sealed partial class OipJsonContext : JsonSerializerContext
{
    /// <summary>Messages keep apostrophes and non-ASCII readable (served as JSON, never in HTML).</summary>
    public static OipJsonContext Readable { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
