using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Hosting;
using Appliance.Core.Serving;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Node;

/// <summary>
/// Composes the roles <see cref="NodeOptions"/> names (the agent gets the server's table, an
/// in-process engine reads it too) and runs them on one <see cref="RoleHost"/>. This is the whole
/// of <c>cube run</c> after the command line is parsed, for any combination of roles.
/// </summary>
internal static class NodeHost
{
    /// <summary>Runs until SIGTERM/SIGINT; returns the exit code (1: something could not start).</summary>
    public static int Run(NodeOptions options)
    {
        // The gRPC services are the host's, built before the roles: they reach the engine through grpc.
        var grpc = options.Engine is { GrpcPort: > 0 } ? new Engine.Grpc.EngineGrpc() : null;
        var host = new RoleHost(grpc is null ? options.Host : options.Host with { Grpc = grpc.Settings(options.Engine!) });
        try
        {
            Compose(options, host, grpc);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or Formats.InputFormatException or ArgumentException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"cube run: cannot start: {e.Message}");
            host.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 1;
        }

        return host.RunAsync().GetAwaiter().GetResult();
    }

    private static void Compose(NodeOptions options, RoleHost host, Engine.Grpc.EngineGrpc? grpc)
    {
        ServerRole? server = null;
        if (options.Server is { } serverOptions)
        {
            server = new ServerRole(serverOptions, host.Loggers);
            host.Add(server);
        }

        if (options.Agent is { } agentOptions)
        {
            var table = server?.Table ?? throw new InvalidOperationException("the agent role controls the server role of its own process");
            host.Add(new AgentRole(agentOptions, table, host.Http, host.Loggers.CreateLogger("cube.agent")));
        }

        if (options.Transfer is { } transferOptions)
        {
            var token = options.TransferToken ?? throw new InvalidOperationException("the transfer needs a bearer token");
            host.Add(new TransferRole(transferOptions, token, host.Http, host.Loggers.CreateLogger("cube.transfer")));
        }

        if (options.Proxy is { } proxyOptions)
        {
            host.Add(new Proxy.ProxyRole(proxyOptions, host.Loggers));
        }

        if (options.Engine is { } engineOptions)
        {
            var (source, name) = EmbeddingSources.Open(engineOptions, server?.Table);
            try
            {
                host.Add(new EngineRole(engineOptions, source, name, host.Loggers, grpc));
            }
            catch
            {
                source.DisposeAsync().AsTask().GetAwaiter().GetResult();
                throw;
            }
        }
    }
}
