using Appliance.Core.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Hosting;

/// <summary>
/// The last guard of the HTTP port: an exception no route handled becomes HTTP 500 with a JSON
/// body <c>{"error": "..."}</c> (never an empty 500), is counted for /metrics, and is logged at
/// most once per 10 s per message with the number of repeats, so a request loop that fails
/// the same way cannot flood the log with stack traces.
/// </summary>
internal sealed class HttpErrors(ILogger logger)
{
    private readonly RepeatLimiter _repeats = new(TimeSpan.FromSeconds(10));
    private long _errors;

    public long Count => Interlocked.Read(ref _errors);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            // The client's fault, found while a route read its body: over --http-max-body-kb
            // (413), a body that stopped arriving, a malformed chunk. Its status, not a 500.
            context.Response.Clear();
            context.Response.StatusCode = e.StatusCode;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonError.Body(e.StatusCode == 413 ? $"{e.Message} (the limit is --http-max-body-kb on this route)" : e.Message)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            Interlocked.Increment(ref _errors);
            Log(context, e);
            if (context.Response.HasStarted)
            {
                throw; // too late for a status: the connection is reset, the client sees the failure
            }

            context.Response.Clear();
            context.Response.StatusCode = 500;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonError.Body($"internal error: {e.GetType().Name}: {e.Message}")).ConfigureAwait(false);
        }
    }

    private void Log(HttpContext context, Exception e)
    {
        var message = $"{context.Request.Method} {context.Request.Path}: {e.GetType().Name}: {e.Message}";
        if (_repeats.ShouldLog(message, out var heldBack))
        {
            HostLog.RequestFailed(logger, message, heldBack, e);
        }
    }
}
