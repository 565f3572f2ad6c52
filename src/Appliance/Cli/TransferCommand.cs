using System.Net.Http.Headers;
using System.Text.Json;
using Appliance.Core.Hosting;

namespace Appliance.Cli;

/// <summary>
/// <c>cube transfer rollback|pin|unpin|abandon|poll</c>: an operator's commands to a running
/// transfer, over its authenticated HTTP API (POST /transfer/&lt;command&gt;). Prints the
/// transfer's answer and the state it leaves; exit 0 when done (or queued), 1 when refused.
/// </summary>
internal static class TransferCommand
{
    private static readonly OptionSpec[] Options =
    [
        new("transfer", "the transfer's HTTP address", "http://127.0.0.1:8099", Meta: "URL"),
        new("token-file", "file holding the bearer token (the transfer's token_file)", Meta: "FILE"),
    ];

    private const string Synopsis = """
        cube transfer rollback [BASE_VERSION] --token-file FILE [--transfer URL]
               cube transfer pin|unpin|poll --token-file FILE [--transfer URL]
               cube transfer abandon BASE_VERSION --token-file FILE [--transfer URL]
        """;

    private const string Description = """
        Operator control of a dict's rollout. Versions are named as in the deploy history,
        <base>_<version> (a base: 100_100; a patch of it: 100_101).
          rollback  make an earlier version that was live everywhere live again (default: the one
                    before the live version) and pin the dict there; refused, changing nothing,
                    when a replica no longer holds it
          pin       activate nothing new until unpinned (replicas behind still catch up)
          unpin     roll forward again (a rolled-back version is deployed again unless abandoned)
          abandon   never build, stage or activate this version again; later donefile lines are
                    no longer compared with its id (the way out of a line with a wrong future id)
          poll      read the donefiles now
        Every action is recorded in /dict/deploy/history on the version it concerns.
        """;

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested || a.Positionals.Count == 0)
        {
            Console.Out.WriteLine(ParsedArgs.Usage(Synopsis, Description, Options));
            return a.HelpRequested ? 0 : 2;
        }

        var command = a.Positionals[0];
        var version = a.Positionals.Count > 1 ? a.Positionals[1] : null;
        var takes = command switch
        {
            "rollback" => (Min: 0, Max: 1),
            "abandon" => (Min: 1, Max: 1),
            "pin" or "unpin" or "poll" => (Min: 0, Max: 0),
            _ => throw new UsageException($"unknown transfer command '{command}': rollback, pin, unpin, abandon or poll"),
        };
        if (a.Positionals.Count - 1 < takes.Min || a.Positionals.Count - 1 > takes.Max)
        {
            throw new UsageException(takes.Max == 0 ? $"{command} takes no version" : $"{command} takes {(takes.Min == 1 ? "one" : "at most one")} version, <base>_<version>");
        }

        var transfer = RunOptionsReader.TransferUrl(a.Get("transfer") ?? "http://127.0.0.1:8099");
        var token = BearerToken.FromFile(a.Require("token-file"));
        return SendAsync(transfer, token, command, version).GetAwaiter().GetResult();
    }

    private static async Task<int> SendAsync(Uri transfer, BearerToken token, string command, string? version)
    {
        using var http = new HttpClient { BaseAddress = transfer, Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"transfer/{command}");
        request.Headers.Authorization = AuthenticationHeaderValue.Parse(token.HeaderValue);
        if (version is not null)
        {
            var json = new MemoryStream();
            using (var writer = new Utf8JsonWriter(json))
            {
                writer.WriteStartObject();
                writer.WriteString("version", version);
                writer.WriteEndObject();
            }

            request.Content = new ByteArrayContent(json.ToArray()) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };
        }

        HttpResponseMessage response;
        string body;
        try
        {
            response = await http.SendAsync(request).ConfigureAwait(false);
            body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"cannot reach the transfer at {transfer}: {e.Message}", e);
        }
        catch (TaskCanceledException e)
        {
            throw new IOException($"the transfer at {transfer} did not answer within 60 s", e);
        }

        using (response)
        {
            var (message, state) = Describe(body);
            var ok = response.IsSuccessStatusCode;
            (ok ? Console.Out : Console.Error).WriteLine($"cube transfer {command}: {message}");
            if (state is not null)
            {
                Console.Out.WriteLine(state);
            }

            return ok ? 0 : 1;
        }
    }

    /// <summary>The message and a one-line state from the transfer's envelope (or the raw body).</summary>
    private static (string Message, string? State) Describe(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var message = root.TryGetProperty("message", out var m) ? m.GetString() ?? string.Empty : body;
            if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object)
            {
                return (message, null);
            }

            string Field(string name) => data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "-";
            return (message, $"dict {Field("dict")}: live {Field("current_version")}, pinned {Field("pinned")}, in progress {Field("in_progress")} {(Field("in_progress_status") is var s && s != "-" ? $"({s})" : string.Empty)}".TrimEnd());
        }
        catch (JsonException)
        {
            return (body.Length == 0 ? "(empty answer)" : body.Trim(), null);
        }
    }
}
