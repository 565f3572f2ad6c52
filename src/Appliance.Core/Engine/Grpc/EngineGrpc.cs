using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Appliance.Core.Engine.Grpc;

/// <summary>
/// The engine's gRPC port: its settings for the host (services are registered before the host is
/// built, the engine role exists only after, so they reach it through this object), the routes,
/// and the per-method stats the role writes to /metrics.
/// </summary>
internal sealed class EngineGrpc
{
    private EngineRole? _engine;

    public GrpcStats Stats { get; } = new();

    /// <summary>Set by the engine role when it is created.</summary>
    public EngineRole Engine
    {
        get => _engine ?? throw new InvalidOperationException("a gRPC call before the engine role exists");
        set => _engine = value;
    }

    public Hosting.GrpcSettings Settings(EngineOptions options) => new()
    {
        Port = options.GrpcPort,
        MaxMessageBytes = options.GrpcMaxMessageBytes,
        MaxStreamsPerConnection = options.GrpcMaxStreams,
        AddServices = services =>
        {
            services.AddSingleton(_ => new InferenceService(Engine, Stats));
            services.AddSingleton(sp => new HealthService(Engine, Stats, sp.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().ApplicationStopping));
        },
    };

    /// <summary>Both services, on the gRPC port only (the HTTP port stays HTTP/1.1 JSON).</summary>
    public static void Map(IEndpointRouteBuilder routes, int port)
    {
        routes.MapGrpcService<InferenceService>().RequireHost($"*:{port}");
        routes.MapGrpcService<HealthService>().RequireHost($"*:{port}");
    }
}
