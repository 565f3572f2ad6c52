using Appliance.Core.Hosting;
using Appliance.Core.Net;

namespace Appliance.Core.Resp;

/// <summary>Makes the RESP session of each connection accepted on a <c>--resp-port</c>.</summary>
internal sealed class RespSessionFactory(IDictReader reader, int maxRequest, BearerToken? token, Microsoft.Extensions.Logging.ILogger? logger = null) : ISessionFactory
{
    private long _connections;

    public RespStats Stats { get; } = new() { Logger = logger };

    public ISession Create(IReplySink replies) => new RespSession(reader, maxRequest, token, replies, Stats, Interlocked.Increment(ref _connections));
}
