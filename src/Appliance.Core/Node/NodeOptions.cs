using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Hosting;
using Appliance.Core.Serving;

namespace Appliance.Core.Node;

/// <summary>
/// Everything one <c>cube run</c> process runs: the shared HTTP host and one immutable options
/// record per role present. <c>--roles all</c> is just the four of them, with the engine reading
/// the server's table (<see cref="EmbeddingOrigin.InProcess"/>).
/// </summary>
internal sealed record NodeOptions
{
    public required HostSettings Host { get; init; }

    public ServerOptions? Server { get; init; }

    /// <summary>Needs <see cref="Server"/>: the agent switches versions in the server's table.</summary>
    public AgentOptions? Agent { get; init; }

    public TransferOptions? Transfer { get; init; }

    /// <summary>The token the transfer's commands and package downloads require.</summary>
    public BearerToken? TransferToken { get; init; }

    public EngineOptions? Engine { get; init; }

    public Proxy.ProxyOptions? Proxy { get; init; }
}
