using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Appliance.Core.Control.Agent;

/// <summary>The agent's HTTP routes: POST /agent/stage|activate|retire (bearer token; body
/// <see cref="VersionCommand"/>) and GET /agent/status.</summary>
public static class AgentEndpoints
{
    public static void Map(WebApplication app, AgentRole agent)
    {
        // Activation maps and verifies packages and retiring deletes files: both leave the socket
        // threads (which also carry the data plane) at once.
        app.MapPost("/agent/stage", (Func<HttpContext, Task<IResult>>)(c => Command(c, agent, cmd => Task.FromResult(agent.Stage(cmd)))));
        app.MapPost("/agent/activate", (Func<HttpContext, Task<IResult>>)(c => Command(c, agent, cmd => Task.Run(() => agent.Activate(cmd, c.RequestAborted)))));
        app.MapPost("/agent/retire", (Func<HttpContext, Task<IResult>>)(c => Command(c, agent, cmd => Task.Run(() => agent.Retire(cmd)))));
        app.MapGet("/agent/status", () => Results.Json(agent.GetStatus(), ControlJsonContext.Default.AgentStatus));
    }

    private static async Task<IResult> Command(HttpContext context, AgentRole agent, Func<VersionCommand, Task<AgentReply>> run)
    {
        if (!agent.Options.Token.Accepts(context.Request))
        {
            return Results.Json(new AgentReply { Ok = false, State = "refused", Error = "missing or wrong bearer token" }, ControlJsonContext.Default.AgentReply, statusCode: 401);
        }

        VersionCommand? command;
        try
        {
            command = await JsonSerializer.DeserializeAsync(context.Request.Body, ControlJsonContext.Default.VersionCommand, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Results.Json(new AgentReply { Ok = false, State = "refused", Error = $"body is not a version command: {e.Message}" }, ControlJsonContext.Default.AgentReply, statusCode: 400);
        }

        if (command is null)
        {
            return Results.Json(new AgentReply { Ok = false, State = "refused", Error = "empty body" }, ControlJsonContext.Default.AgentReply, statusCode: 400);
        }

        var reply = await run(command).ConfigureAwait(false);
        var status = reply.Ok ? 200 : reply.State == "refused" ? 400 : reply.State == "live" ? 409 : 500;
        return Results.Json(reply, ControlJsonContext.Default.AgentReply, statusCode: status);
    }
}
