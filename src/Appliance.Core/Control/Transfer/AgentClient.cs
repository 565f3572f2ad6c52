using System.Net.Http.Json;
using Appliance.Core.Control.Agent;
using Appliance.Core.Hosting;
using Appliance.Core.Net;

namespace Appliance.Core.Control.Transfer;

/// <summary>The transfer's side of the agent commands (POST /agent/stage|activate|retire, GET
/// /agent/status), with the bearer token and a per-call time limit.</summary>
internal sealed class AgentClient(HttpClient http, BearerToken token)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    public Task<AgentReply> StageAsync(NodeAddress agent, VersionRecord version, CancellationToken cancellationToken) =>
        PostAsync(agent, "stage", version, cancellationToken);

    /// <param name="retainFrom">the oldest version of the lineage that must stay roll-backable (null: all)</param>
    public Task<AgentReply> ActivateAsync(NodeAddress agent, VersionRecord version, string? retainFrom, CancellationToken cancellationToken) =>
        PostAsync(agent, "activate", version, cancellationToken, retainFrom);

    public Task<AgentReply> RetireAsync(NodeAddress agent, VersionRecord version, CancellationToken cancellationToken) =>
        PostAsync(agent, "retire", version, cancellationToken);

    public async Task<AgentStatus> StatusAsync(NodeAddress agent, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(CallTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{agent}/agent/status");
        request.Headers.TryAddWithoutValidation("Authorization", token.HeaderValue);
        using var response = await http.SendAsync(request, limit.Token).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync(ControlJsonContext.Default.AgentStatus, limit.Token).ConfigureAwait(false)
            ?? throw new HttpRequestException($"{agent}: empty status");
    }

    private async Task<AgentReply> PostAsync(NodeAddress agent, string command, VersionRecord version, CancellationToken cancellationToken, string? retainFrom = null)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(CallTimeout);
        var body = new VersionCommand { Version = version.Version, Base = version.Depend, Mode = version.Mode, RetainFrom = retainFrom };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{agent}/agent/{command}")
        {
            Content = JsonContent.Create(body, ControlJsonContext.Default.VersionCommand),
        };
        request.Headers.TryAddWithoutValidation("Authorization", token.HeaderValue);
        using var response = await http.SendAsync(request, limit.Token).ConfigureAwait(false);
        var reply = await response.Content.ReadFromJsonAsync(ControlJsonContext.Default.AgentReply, limit.Token).ConfigureAwait(false);
        return reply ?? throw new HttpRequestException($"{agent}: HTTP {(int)response.StatusCode} with no reply");
    }
}
