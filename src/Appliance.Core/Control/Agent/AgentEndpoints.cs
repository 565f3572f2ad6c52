using System.Text.Json;
using Appliance.Core.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Control.Agent;

/// <summary>The agent's HTTP routes: POST /agent/stage|activate|retire (one route group behind the
/// bearer token; body <see cref="VersionCommand"/>) and GET /agent/status.</summary>
internal static class AgentEndpoints
{
    public static void Map(IEndpointRouteBuilder routes, AgentRole agent, ILogger logger)
    {
        var commands = routes.MapGroup("/agent").RequireBearerToken(
            agent.Options.Token,
            () => Results.Json(new AgentReply { Ok = false, State = AgentState.Refused, Error = "missing or wrong bearer token" }, ControlJsonContext.Default.AgentReply, statusCode: 401),
            logger);

        // Activation maps and verifies packages and retiring deletes files: both leave the socket
        // threads (which also carry the data plane) at once.
        commands.MapPost("/stage", (Func<HttpContext, Task<IResult>>)(c => Command(c, cmd => Task.FromResult(agent.Stage(cmd)))));
        commands.MapPost("/activate", (Func<HttpContext, Task<IResult>>)(c => Command(c, cmd => Task.Run(() => agent.Activate(cmd, c.RequestAborted)))));
        commands.MapPost("/retire", (Func<HttpContext, Task<IResult>>)(c => Command(c, cmd => Task.Run(() => agent.Retire(cmd)))));
        routes.MapGet("/agent/status", () => Results.Json(agent.GetStatus(), ControlJsonContext.Default.AgentStatus));
    }

    private static async Task<IResult> Command(HttpContext context, Func<VersionCommand, Task<AgentReply>> run)
    {
        VersionCommand? command;
        try
        {
            command = await JsonSerializer.DeserializeAsync(context.Request.Body, ControlJsonContext.Default.VersionCommand, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Results.Json(new AgentReply { Ok = false, State = AgentState.Refused, Error = $"body is not a version command: {e.Message}" }, ControlJsonContext.Default.AgentReply, statusCode: 400);
        }

        if (command is null)
        {
            return Results.Json(new AgentReply { Ok = false, State = AgentState.Refused, Error = "empty body" }, ControlJsonContext.Default.AgentReply, statusCode: 400);
        }

        var reply = await run(command).ConfigureAwait(false);
        var status = reply.Ok ? 200 : reply.State switch
        {
            AgentState.Refused => 400,
            AgentState.Live => 409,
            _ => 500,
        };
        return Results.Json(reply, ControlJsonContext.Default.AgentReply, statusCode: status);
    }
}
