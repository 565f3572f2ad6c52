using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using Appliance.Core.Hosting;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;
using Appliance.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Appliance.Core.Serving;

/// <summary>
/// <c>GET /lookup?dict=NAME&amp;keys=1,2,3</c> on every role that serves keys (a shard server, the
/// proxy): "what does the table say for key K", for curl and scripts. Each key is found (its row
/// as floats, decoded per the table's codec; a raw table's bytes as base64), missing, or failed
/// (its shard could not answer, with the reason). At most <see cref="MaxKeys"/> keys.
/// <code>
/// {"dict": "emb", "codec": "f16", "keys": [
///   {"key": "1", "status": "found", "value": [1, 1.25]},
///   {"key": "2", "status": "missing"},
///   {"key": "5", "status": "other_shard", "shard": 1},
///   {"key": "3", "status": "failed", "error": "key 3: shard 1 unavailable: …"}]}
/// </code>
/// </summary>
internal static class LookupEndpoint
{
    public const int MaxKeys = 10_000;

    /// <summary>Maps the route. With <paramref name="token"/> (the RESP port's secret) it needs
    /// <c>Authorization: Bearer &lt;token&gt;</c>: the same rows must not be public on one port and
    /// protected on another.</summary>
    public static void Map(IEndpointRouteBuilder routes, IDictReader reader, BearerToken? token, Microsoft.Extensions.Logging.ILogger logger)
    {
        var route = routes.MapGet("/lookup", (Func<HttpContext, Task>)(context => LookupAsync(context, reader)));
        if (token is not null)
        {
            route.RequireBearerToken(token, () => Results.Text(
                JsonError.Body("GET /lookup needs Authorization: Bearer <the secret of --resp-token-file>"), "application/json", statusCode: 401), logger);
        }
    }

    private static async Task LookupAsync(HttpContext context, IDictReader reader)
    {
        var dict = context.Request.Query["dict"].ToString() is { Length: > 0 } named ? named : reader.DefaultDict;
        if (!reader.Serves(dict))
        {
            await Refuse(context, 404, $"dict '{dict}' is not served here (default: '{reader.DefaultDict}')").ConfigureAwait(false);
            return;
        }

        var texts = context.Request.Query["keys"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (texts.Length == 0 || texts.Length > MaxKeys)
        {
            await Refuse(context, 400, $"give 1 to {MaxKeys} keys: /lookup?dict={dict}&keys=1,2,3").ConfigureAwait(false);
            return;
        }

        var keys = new ulong[texts.Length];
        for (var i = 0; i < texts.Length; i++)
        {
            if (!ulong.TryParse(texts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out keys[i]))
            {
                await Refuse(context, 400, $"key {i + 1} '{texts[i]}' is not a decimal uint64").ConfigureAwait(false);
                return;
            }
        }

        var body = new ArrayBufferWriter<byte>();
        // A local shard's answer holds the live version until disposed: written out before any await.
        using (var rows = await reader.LookupAsync(dict, keys, keys.Length).ConfigureAwait(false))
        {
            Write(body, dict, keys, rows, reader);
        }

        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static void Write(IBufferWriter<byte> body, string dict, ulong[] keys, KeyRows rows, IDictReader reader)
    {
        using var json = new Utf8JsonWriter(body, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("dict", dict);
        json.WriteString("codec", ValueCodecs.Name(rows.Codec));
        json.WriteStartArray("keys");
        var floats = Array.Empty<float>();
        Span<byte> digits = stackalloc byte[20];
        for (var i = 0; i < rows.Count; i++)
        {
            json.WriteStartObject();
            Utf8Formatter.TryFormat(keys[i], digits, out var written);
            json.WriteString("key"u8, digits[..written]);
            switch (rows.Status(i))
            {
                case KeyStatus.Found when rows.Codec == ValueCodec.Raw:
                    json.WriteString("status", "found");
                    json.WriteBase64String("bytes", rows.Row(i));
                    break;
                case KeyStatus.Found:
                    json.WriteString("status", "found");
                    var row = rows.Row(i);
                    var dimension = ValueCodecs.DecodedDimension(rows.Codec, row.Length);
                    if (floats.Length < dimension)
                    {
                        floats = new float[dimension];
                    }

                    ValueCodecs.Decode(rows.Codec, row, floats.AsSpan(0, dimension));
                    json.WriteStartArray("value");
                    foreach (var f in floats.AsSpan(0, dimension))
                    {
                        if (float.IsFinite(f))
                        {
                            json.WriteNumberValue(f);
                        }
                        else
                        {
                            json.WriteStringValue(f.ToString(System.Globalization.CultureInfo.InvariantCulture)); // JSON has no NaN/∞
                        }
                    }

                    json.WriteEndArray();
                    break;
                case KeyStatus.Missing when reader.OtherShardOf(keys[i]) is { } owner:
                    // Not missing from the table: this server holds another shard.
                    json.WriteString("status", "other_shard");
                    json.WriteNumber("shard", owner);
                    break;
                case KeyStatus.Missing:
                    json.WriteString("status", "missing");
                    break;
                default:
                    json.WriteString("status", "failed");
                    json.WriteString("error", rows.Error(i));
                    break;
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static Task Refuse(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonError.Body(message));
    }
}
