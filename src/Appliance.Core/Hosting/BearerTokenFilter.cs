using Appliance.Core.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Hosting;

/// <summary>
/// The one place a bearer token is checked: an endpoint filter on a route group, so every route
/// in the group is protected and none can forget it. A refused request is logged with the peer's
/// address and answered with the group's own refusal (each API keeps its reply format).
/// </summary>
internal static class BearerTokenFilter
{
    public static TBuilder RequireBearerToken<TBuilder>(this TBuilder builder, BearerToken token, Func<IResult> refusal, ILogger logger)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (token.Accepts(http.Request))
            {
                return await next(context).ConfigureAwait(false);
            }

            HostLog.Unauthorized(logger, http.Request.Method, http.Request.Path, http.Connection.RemoteIpAddress?.ToString() ?? "?");
            return refusal();
        });
}
