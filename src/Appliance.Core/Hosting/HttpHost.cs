using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Appliance.Core.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Appliance.Core.Hosting;

/// <summary>
/// The process's HTTP port (Kestrel, minimal APIs): <c>GET /status</c> (JSON, one object per role)
/// and <c>GET /metrics</c> (Prometheus text) for every role in the process; roles add their own
/// routes (<see cref="IRole.MapRoutes"/>). <paramref name="roles"/> is read on every request, so
/// roles added after the build are reported.
/// </summary>
internal static class HttpHost
{
    /// <summary>Throws an IOException naming the port when another process listens on it.</summary>
    public static void EnsurePortFree(System.Net.IPAddress bind, int port, string flag = "--http-port")
    {
        if (port == 0)
        {
            return;
        }

        using var probe = new System.Net.Sockets.Socket(bind.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            probe.Bind(new System.Net.IPEndPoint(bind, port));
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            throw new IOException($"{(flag == "--http-port" ? "HTTP" : "gRPC")} port {port} on {bind} is already in use (another process listens there; {flag})", e);
        }
    }

    public static WebApplication Build(HostSettings settings, IReadOnlyList<IRole> roles)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(settings.LogLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        if (settings.JsonLogs)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                // One event per line for journald; under a terminal an exception's stack trace
                // keeps its own lines so a person can read it.
                o.SingleLine = Console.IsOutputRedirected;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            });
        }
        if (settings.LogRepeatInterval > TimeSpan.Zero)
        {
            // The console provider, wrapped: identical warnings and errors at most once per interval.
            var console = builder.Services.Single(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider));
            builder.Services.Remove(console);
            builder.Services.AddSingleton<ILoggerProvider>(sp => new RepeatLimitingLoggerProvider(
                new ConsoleLoggerProvider(sp.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>(), sp.GetServices<ConsoleFormatter>()),
                settings.LogRepeatInterval));
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(settings.Bind, settings.HttpPort);
            if (settings.Grpc is { } grpc)
            {
                k.Listen(settings.Bind, grpc.Port, o => o.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
                k.Limits.Http2.MaxStreamsPerConnection = grpc.MaxStreamsPerConnection;
            }

            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = settings.Limits.MaxConnections;
            k.Limits.RequestHeadersTimeout = settings.Limits.HeaderTimeout;
            k.Limits.KeepAliveTimeout = settings.Limits.KeepAlive;
            k.Limits.MaxRequestBodySize = settings.Limits.MaxBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = HttpLimits.MaxHeaderBytes;
        });
        if (settings.Grpc is { } services)
        {
            builder.Services.AddGrpc(o =>
            {
                o.MaxReceiveMessageSize = services.MaxMessageBytes;
                o.MaxSendMessageSize = services.MaxMessageBytes;
            });
            services.AddServices(builder.Services);
        }

        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout);
        builder.Services.AddHttpClient("cube", c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), PooledConnectionLifetime = TimeSpan.FromMinutes(2) });
        var app = builder.Build();
        var http = new HttpMetrics(app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        app.Lifetime.ApplicationStopped.Register(http.Dispose);
        var errors = new HttpErrors(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("cube.http"));
        app.Use(errors.InvokeAsync);
        var started = DateTimeOffset.UtcNow;
        app.MapGet("/status", (HttpContext context) => WriteStatus(context, roles, started));
        app.MapGet("/metrics", (HttpContext context) =>
        {
            var metrics = new MetricsWriter();
            metrics.Gauge("cube_uptime_seconds", "Seconds since the process started.", Math.Round((DateTimeOffset.UtcNow - started).TotalSeconds, 3));
            metrics.Counter("cube_http_errors_total", "HTTP requests that failed inside the process (answered 500 with a JSON error).", errors.Count);
            http.Write(metrics);
            RuntimeMetrics.Write(metrics);
            foreach (var role in roles)
            {
                role.WriteMetrics(metrics);
            }

            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return context.Response.WriteAsync(metrics.ToString());
        });
        return app;
    }

    /// <summary>The port Kestrel actually listens on (differs from the configured one when that is 0).</summary>
    public static int BoundPort(WebApplication app)
    {
        var url = app.Urls.FirstOrDefault();
        return url is not null && Uri.TryCreate(url.Replace("[::]", "localhost", StringComparison.Ordinal).Replace("0.0.0.0", "localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri) ? uri.Port : 0;
    }

    private static async Task WriteStatus(HttpContext context, IReadOnlyList<IRole> roles, DateTimeOffset started)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("cube_version", typeof(HttpHost).Assembly.GetName().Version?.ToString(3));
            writer.WriteNumber("uptime_seconds", Math.Round((DateTimeOffset.UtcNow - started).TotalSeconds, 3));
            writer.WriteStartArray("roles");
            foreach (var role in roles)
            {
                writer.WriteStringValue(role.Name);
            }

            writer.WriteEndArray();
            foreach (var role in roles)
            {
                writer.WritePropertyName(role.Name);
                role.WriteStatus(writer);
            }

            writer.WriteEndObject();
        }

        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).ConfigureAwait(false);
    }
}
