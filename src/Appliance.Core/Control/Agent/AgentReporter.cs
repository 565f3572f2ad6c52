using System.Globalization;
using System.Text.Json;

namespace Appliance.Core.Control.Agent;

/// <summary>The agent's part of /status and /metrics.</summary>
public sealed class AgentReporter(AgentRole agent) : IRoleReporter
{
    public string Role => "agent";

    public void WriteStatus(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, agent.GetStatus(), ControlJsonContext.Default.AgentStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = agent.GetStatus();
        var labels = $"dict=\"{s.Dict}\",shard=\"{s.Shard.ToString(CultureInfo.InvariantCulture)}\"";
        metrics.Counter("cube_agent_downloads_total", "Stagings started (a resumed download counts again).", s.Downloads, labels);
        metrics.Counter("cube_agent_activations_total", "Versions activated.", s.Activations, labels);
        metrics.Gauge("cube_agent_staged_versions", "Versions on disk, verified.", s.Staged.Count, labels);
        metrics.Gauge("cube_agent_staging", "Stagings in progress or just finished.", s.Staging.Count, labels);
    }
}
