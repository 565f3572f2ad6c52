using System.Text.Json;

namespace Appliance.Core.Control;

/// <summary>What a role contributes to <c>GET /status</c> and <c>GET /metrics</c>.</summary>
public interface IRoleReporter
{
    /// <summary>"server", "agent", "transfer", "engine": the key of this role's object in /status.</summary>
    string Role { get; }

    void WriteStatus(Utf8JsonWriter writer);

    void WriteMetrics(MetricsWriter metrics);
}
