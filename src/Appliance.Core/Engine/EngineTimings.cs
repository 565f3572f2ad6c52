using Appliance.Core.Diagnostics;
using Appliance.Core.Hosting;

namespace Appliance.Core.Engine;

/// <summary>Latency of a predict request and of the engine's stages for one network run, kept by
/// the role across model reloads (a reload replaces the <see cref="CtrEngine"/>, not these).</summary>
internal sealed class EngineTimings
{
    /// <summary>A whole predict request (HTTP, OIP or the opcode), batching wait included.</summary>
    public LatencyHistogram Predict { get; } = new();

    /// <summary>Parse, normalise and hash one batch.</summary>
    public LatencyHistogram ParseHash { get; } = new();

    /// <summary>Fetch and decode one batch's embeddings (the network round trip for a cluster).</summary>
    public LatencyHistogram Gather { get; } = new();

    /// <summary>Run the network on one batch.</summary>
    public LatencyHistogram Network { get; } = new();

    public void Write(MetricsWriter metrics)
    {
        metrics.Histogram("cube_engine_predict_duration_seconds", "Predict request latency in seconds (HTTP, OIP or opcode; batching wait included).", Predict);
        const string Stage = "Engine stage latency per network run, in seconds.";
        metrics.Histogram("cube_engine_stage_duration_seconds", Stage, ParseHash, "stage=\"parse_hash\"");
        metrics.Histogram("cube_engine_stage_duration_seconds", Stage, Gather, "stage=\"gather\"");
        metrics.Histogram("cube_engine_stage_duration_seconds", Stage, Network, "stage=\"network\"");
    }
}
