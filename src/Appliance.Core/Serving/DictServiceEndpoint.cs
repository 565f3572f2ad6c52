using System.Buffers;
using System.Text.Json;
using Appliance.Core.Brpc;
using Appliance.Core.Hosting;
using Appliance.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Appliance.Core.Serving;

/// <summary>
/// <c>POST /DictService/seek</c> on a shard server's HTTP port: the original cube's HTTP form of
/// <c>rec.mcube.DictService.seek</c> (brpc's JSON mapping of its protobuf messages), which the
/// original Go and Python cube-api send:
/// <code>
/// → {"keys": [1, 2, 2], "version_required": true}
/// ← {"values": [{"status": 0, "value": "&lt;base64 of the row&gt;"},
///               {"status": 4294967295, "value": ""}, …], "version": "1700000000_1700000300"}
/// </code>
/// Keys are JSON numbers (decimal strings are accepted too); values are the rows as float32
/// little-endian, as on baidu_std. Errors are brpc's HTTP statuses with a JSON body naming the
/// fault: 400 a body that is not a DictRequest, 503 no version live yet, 413 a body over the HTTP
/// port's limit.
/// </summary>
internal static class DictServiceEndpoint
{
    public const string Path = "/DictService/seek";

    public static void Map(IEndpointRouteBuilder routes, ShardService service, BearerToken? token, Microsoft.Extensions.Logging.ILogger logger)
    {
        var route = routes.MapPost(Path, (Func<HttpContext, Task>)(context => SeekAsync(context, service)));
        if (token is not null)
        {
            route.RequireBearerToken(token, () => Results.Text(
                JsonError.Body($"POST {Path} needs Authorization: Bearer <the secret of --resp-token-file>"), "application/json", statusCode: 401), logger);
        }
    }

    private static async Task SeekAsync(HttpContext context, ShardService service)
    {
        ulong[] keys;
        bool versionRequired;
        using (var body = await PooledBody.ReadAsync(context.Request, long.MaxValue, context.RequestAborted).ConfigureAwait(false))
        {
            try
            {
                (keys, versionRequired) = ReadRequest(body.Memory.Span);
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
                service.Stats.Error();
                await Refuse(context, 400, $"the body is not a DictRequest: {e.Message}").ConfigureAwait(false);
                return;
            }
        }

        var results = new ValueRef[keys.Length];
        var answer = new ArrayBufferWriter<byte>();
        var ready = false;
        string? failure = null;
        service.Seek(keys, results, (view, failed) =>
        {
            failure = failed;
            if (view is not null)
            {
                ready = true;
                Write(answer, results, view, versionRequired);
            }
        });

        if (!ready)
        {
            await Refuse(context, 503, failure ?? $"dict {service.Dict} shard {service.Shard}: no version is live yet (loading, or none delivered)").ConfigureAwait(false);
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(answer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Reads <c>{"keys": [...], "version_required": bool}</c>; other members are ignored,
    /// as brpc's mapping ignores fields the message does not have.</summary>
    internal static (ulong[] Keys, bool VersionRequired) ReadRequest(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var keys = new List<ulong>();
        var versionRequired = false;
        Expect(ref reader, JsonTokenType.StartObject, "the body");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("keys"u8))
            {
                Expect(ref reader, JsonTokenType.StartArray, "\"keys\"");
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    keys.Add(ReadKey(ref reader, keys.Count));
                    if (keys.Count > ShardService.MaxKeysPerRequest)
                    {
                        throw new FormatException($"more than {ShardService.MaxKeysPerRequest} keys");
                    }
                }
            }
            else if (reader.ValueTextEquals("version_required"u8))
            {
                reader.Read();
                versionRequired = reader.TokenType switch
                {
                    JsonTokenType.True => true,
                    JsonTokenType.False => false,
                    _ => throw new FormatException($"\"version_required\" at byte {reader.TokenStartIndex} is not true or false"),
                };
            }
            else
            {
                reader.Skip();
            }
        }

        return (keys.ToArray(), versionRequired);
    }

    private static ulong ReadKey(ref Utf8JsonReader reader, int index)
    {
        var ok = reader.TokenType switch
        {
            JsonTokenType.Number => reader.TryGetUInt64(out var number) ? number : (ulong?)null,
            JsonTokenType.String => ulong.TryParse(reader.GetString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : null,
            _ => null,
        };
        return ok ?? throw new FormatException($"key {index + 1} (byte {reader.TokenStartIndex}) is not an unsigned 64-bit integer");
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string what)
    {
        if (!reader.Read() || reader.TokenType != type)
        {
            throw new FormatException($"{what} (byte {reader.TokenStartIndex}) is not a JSON {(type == JsonTokenType.StartObject ? "object" : "array")}");
        }
    }

    private static void Write(IBufferWriter<byte> body, ValueRef[] results, ShardView view, bool versionRequired)
    {
        using var json = new Utf8JsonWriter(body);
        json.WriteStartObject();
        json.WriteStartArray("values"u8);
        var row = Array.Empty<byte>();
        foreach (var r in results)
        {
            json.WriteStartObject();
            if (r.Found)
            {
                var length = ValueCodecs.Float32Length(view.Codec, r.Length);
                if (row.Length < length)
                {
                    row = new byte[Math.Max(length, row.Length * 2)];
                }

                ValueCodecs.DecodeToFloat32(view.Codec, r.Span, row.AsSpan(0, length));
                json.WriteNumber("status"u8, 0);
                json.WriteBase64String("value"u8, row.AsSpan(0, length));
            }
            else
            {
                json.WriteNumber("status"u8, DictResponse.NotFound);
                json.WriteString("value"u8, ""u8);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (versionRequired)
        {
            json.WriteString("version"u8, view.VersionLabel);
        }

        json.WriteEndObject();
    }

    private static Task Refuse(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonError.Body(message));
    }
}
