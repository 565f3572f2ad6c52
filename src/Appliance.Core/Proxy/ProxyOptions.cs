using System.Net;
using Appliance.Core.Client;
using Appliance.Core.Hosting;
using Appliance.Core.Net;

namespace Appliance.Core.Proxy;

/// <summary>Settings of the proxy role (<c>cube run --roles proxy --conf cube.conf</c>); flags and
/// defaults in <c>cube run --help</c>.</summary>
internal sealed record ProxyOptions
{
    public IPAddress Bind { get; init; } = IPAddress.Any;

    /// <summary>--resp-port: where Redis clients connect (default 6379).</summary>
    public int RespPort { get; init; } = 6379;

    /// <summary>The cube.conf the dicts were read from, for /status.</summary>
    public required string ConfPath { get; init; }

    public required IReadOnlyList<DictConf> Dicts { get; init; }

    /// <summary>The dict GET and MGET read (--dict; the only one in cube.conf by default).</summary>
    public required string DefaultDict { get; init; }

    public int MaxPayloadBytes { get; init; } = Protocol.FrameHeader.DefaultMaxPayload;

    public ServerLimits Limits { get; init; } = new();

    public BearerToken? RespToken { get; init; }
}
