using System.Net;
using Appliance.Core.Net;
using Appliance.Core.Protocol;

namespace Appliance.Core.Engine;

/// <summary>Settings of the engine role; every field is documented with its flag and default in
/// <c>cube run --help</c>.</summary>
internal sealed record EngineOptions
{
    /// <summary>The model variants (a variant is named after its directory) and their traffic weights.</summary>
    public required IReadOnlyList<ModelChoice> Models { get; init; }

    /// <summary>The dict every variant reads (model.json's dict; variants share one table).</summary>
    public required string Dict { get; init; }

    public EmbeddingOrigin Origin { get; init; } = EmbeddingOrigin.InProcess;

    /// <summary><see cref="EmbeddingOrigin.LocalDirectory"/>: a builder's output (newest base + deltas).</summary>
    public string? DataDir { get; init; }

    /// <summary><see cref="EmbeddingOrigin.Cluster"/>: the client's cube.conf.</summary>
    public string? ClientConf { get; init; }

    public ShardFailurePolicy OnShardFailure { get; init; } = ShardFailurePolicy.Zero;

    public bool InMemory { get; init; } = true;

    /// <summary>Most samples in one network run.</summary>
    public int MaxBatch { get; init; } = 256;

    /// <summary>Network runs at once (0: one per core).</summary>
    public int Runners { get; init; }

    /// <summary>How long the batcher's loop polls an empty queue before it parks, while requests
    /// come at most that far apart (µs; 0: never).</summary>
    public int BatchSpinMicros { get; init; }

    public IPAddress Bind { get; init; } = IPAddress.Any;

    /// <summary>The binary protocol's predict opcode on this port (null: HTTP only).</summary>
    public int? DataPort { get; init; }

    /// <summary>Largest binary-protocol request payload accepted.</summary>
    public int MaxPayloadBytes { get; init; } = FrameHeader.DefaultMaxPayload;

    /// <summary>Most samples in one request (HTTP or the predict opcode); more are refused whole.</summary>
    public int MaxSamples { get; init; } = 10_000;

    /// <summary>Largest POST /predict body (HTTP 413 beyond it, before it is parsed).</summary>
    public long MaxBodyBytes { get; init; } = 8L << 20;

    /// <summary>The Open Inference Protocol over gRPC (HTTP/2 cleartext) on this port (0: none).</summary>
    public int GrpcPort { get; init; }

    /// <summary>Largest gRPC message received or sent (RESOURCE_EXHAUSTED beyond it).</summary>
    public int GrpcMaxMessageBytes { get; init; } = 8 << 20;

    /// <summary>gRPC calls one HTTP/2 connection may have open at once.</summary>
    public int GrpcMaxStreams { get; init; } = 100;

    /// <summary>Connection limits of the binary data port.</summary>
    public ServerLimits Limits { get; init; } = new();
}
