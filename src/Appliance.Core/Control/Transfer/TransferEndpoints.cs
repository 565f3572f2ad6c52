using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Appliance.Core.Hosting;
using Appliance.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// The transfer's HTTP routes: the original query paths (<c>/dict/info</c>,
/// <c>/instance/status</c>, <c>/dict/deploy/history</c>, in the original envelope), the package
/// files agents download (<c>GET /packages/&lt;base&gt;_&lt;version&gt;/&lt;dict&gt;_part&lt;i&gt;/&lt;file&gt;</c>,
/// with byte ranges so an interrupted download resumes), and <c>POST /transfer/poll</c>. Packages
/// and POSTs need the bearer token.
/// </summary>
internal static partial class TransferEndpoints
{
    private static readonly string[] PackageFiles = [ShardLayout.ManifestFileName, ShardLayout.IndexFileName, ShardLayout.ValuesFileName];

    public static void Map(IEndpointRouteBuilder app, TransferRole transfer, ILogger logger)
    {
        app.MapGet("/dict/info", () => Query(transfer, s => new DictInfo
        {
            DictName = transfer.Options.DictName,
            DictMode = transfer.Options.Mode,
            ShardNum = transfer.Options.ShardNum,
            CopyNum = transfer.Options.CopyNum,
            InstNum = transfer.Options.InstanceCount,
            DonefileAddr = transfer.Options.DonefileAddress,
            OutputAddr = transfer.Options.OutputAddress,
            TmpAddr = transfer.Options.TmpAddress,
            DownPolicy = transfer.Options.DownPolicy,
            Instances = s.History.LastOrDefault(v => v.Label == s.Current)?.Instances ?? [],
            WaitVersionInfo = s.History.LastOrDefault(v => !v.IsSettled),
            CurrentVersionInfo = CurrentLineage(s),
        }, ControlJsonContext.Default.EnvelopeDictInfo));
        app.MapGet("/instance/status", () => Query(transfer, s =>
            (s.History.LastOrDefault(v => v.Status is not (VersionStatus.Superseded or VersionStatus.Failed or VersionStatus.RolledBack or VersionStatus.Abandoned)) ?? s.History.LastOrDefault())?.Instances ?? [],
            ControlJsonContext.Default.EnvelopeListInstanceRecord));
        app.MapGet("/dict/deploy/history", () => Query(transfer, s => s.History.ToList(), ControlJsonContext.Default.EnvelopeListVersionRecord));
        // Commands and package files need the bearer token: one filter per route group.
        var commands = app.MapGroup("/transfer").RequireBearerToken(
            transfer.Token,
            () => Results.Json(new Envelope<string>("255", "unauthorized", string.Empty), ControlJsonContext.Default.EnvelopeString, statusCode: 401),
            logger);
        commands.MapPost("/poll", () =>
        {
            transfer.Wake();
            return Results.Json(new Envelope<string>("0", "query ok", "polling"), ControlJsonContext.Default.EnvelopeString);
        });
        commands.MapPost("/rollback", (HttpContext context) => Operate(context, transfer, OperatorAction.Rollback));
        commands.MapPost("/pin", (HttpContext context) => Operate(context, transfer, OperatorAction.Pin));
        commands.MapPost("/unpin", (HttpContext context) => Operate(context, transfer, OperatorAction.Unpin));
        commands.MapPost("/abandon", (HttpContext context) => Operate(context, transfer, OperatorAction.Abandon));
        var packages = app.MapGroup("/packages").RequireBearerToken(transfer.Token, () => Results.StatusCode(401), logger);
        packages.MapGet("/{version}/{shard}/{file}", (HttpContext context, string version, string shard, string file) => ServePackageFile(context, transfer, version, shard, file));
    }

    /// <summary>An operator command: optional JSON body {"version": "&lt;base&gt;_&lt;version&gt;"}
    /// (at most 4 KiB); the answer is the original envelope around the transfer's status, with the
    /// HTTP status of the outcome (200 done, 202 queued, 400 bad request, 404 unknown version,
    /// 409 refused in this state).</summary>
    private static async Task Operate(HttpContext context, TransferRole transfer, OperatorAction action)
    {
        const int MaxBody = 4096;
        string? version = null;
        if (context.Request.ContentLength is > MaxBody)
        {
            await Outcome(transfer, new OperatorResult(413, $"the body is over {MaxBody} bytes")).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        // Read at most one byte past the limit: a chunked body cannot make us buffer more.
        var buffer = new byte[MaxBody + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        if (length > MaxBody)
        {
            await Outcome(transfer, new OperatorResult(413, $"the body is over {MaxBody} bytes")).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        if (length > 0)
        {
            try
            {
                version = JsonSerializer.Deserialize(buffer.AsSpan(0, length), ControlJsonContext.Default.OperatorRequest)?.Version;
            }
            catch (JsonException e)
            {
                await Outcome(transfer, new OperatorResult(400, $"the body is not {{\"version\": \"<base>_<version>\"}}: {e.Message}")).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
        }

        var result = await transfer.ExecuteAsync(action, version, TimeSpan.FromSeconds(30), context.RequestAborted).ConfigureAwait(false);
        await Outcome(transfer, result).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static IResult Outcome(TransferRole transfer, OperatorResult result) =>
        Results.Json(new Envelope<TransferStatus>(result.Ok ? "0" : "255", result.Message, transfer.GetStatus()), ControlJsonContext.Default.EnvelopeTransferStatus, statusCode: result.HttpStatus);

    /// <summary>Answers from the last published snapshot of the state (never the records the
    /// rollout is changing).</summary>
    private static IResult Query<T>(TransferRole transfer, Func<TransferState, T> select, System.Text.Json.Serialization.Metadata.JsonTypeInfo<Envelope<T>> type) =>
        Results.Bytes(JsonSerializer.SerializeToUtf8Bytes(new Envelope<T>("0", "query ok", select(transfer.Snapshot)), type), "application/json");

    private static List<VersionRecord> CurrentLineage(TransferState s)
    {
        var current = s.History.LastOrDefault(v => v.Label == s.Current);
        return current is null ? [] : s.History.Where(v => v.Depend == current.Depend && v.Status is VersionStatus.Finished or VersionStatus.Superseded).ToList();
    }

    private static async Task ServePackageFile(HttpContext context, TransferRole transfer, string version, string shard, string file)
    {
        // Every segment is checked against what a package can contain: no request text reaches
        // the file system unvalidated.
        if (!VersionDirectory().IsMatch(version) || shard != $"{transfer.Options.DictName}_part{ShardNumber(shard)}" || !PackageFiles.Contains(file))
        {
            context.Response.StatusCode = 404;
            return;
        }

        var path = Path.Combine(transfer.Options.OutputAddress, version, shard, file);
        if (!File.Exists(path))
        {
            context.Response.StatusCode = 404;
            return;
        }

        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var length = stream.Length;
        long from = 0;
        var to = length - 1; // inclusive, as in the Range header
        if (context.Request.Headers.Range.ToString() is { Length: > 0 } range)
        {
            var m = RangeHeader().Match(range);
            var end = to;
            if (m.Success && m.Groups[1].Length == 0 && long.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix) && suffix > 0)
            {
                // "bytes=-N": the last N bytes (the whole file when it is shorter), RFC 9110 §14.1.2.
                from = Math.Max(0, length - suffix);
            }
            else if (!m.Success || !long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out from) || from > length
                || (m.Groups[2].Length > 0 && (!long.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out end) || end < from)))
            {
                context.Response.StatusCode = 416;
                context.Response.Headers.ContentRange = $"bytes */{length}";
                return;
            }

            // "bytes=F-" is the rest of the file, "bytes=F-L" at most up to byte L, "bytes=-N" the last N.
            to = Math.Min(end, length - 1);
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {from}-{Math.Max(from, to)}/{length}";
        }

        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = Math.Max(0, to - from + 1);
        context.Response.Headers.AcceptRanges = "bytes";
        stream.Seek(from, SeekOrigin.Begin);
        var buffer = new byte[1 << 16];
        var limit = transfer.Options.ServeBytesPerSecond;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        long sent = 0;
        int read;
        var left = Math.Max(0, to - from + 1);
        while (left > 0 && (read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            left -= read;
            await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted).ConfigureAwait(false);
            sent += read;
            if (limit > 0)
            {
                // Throttle: stay at or below the configured rate (the original's wget --limit-rate).
                var due = TimeSpan.FromSeconds(sent / (double)limit) - System.Diagnostics.Stopwatch.GetElapsedTime(started);
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, context.RequestAborted).ConfigureAwait(false);
                }
            }
        }
    }

    private static string ShardNumber(string shard)
    {
        var at = shard.LastIndexOf("_part", StringComparison.Ordinal);
        var digits = at < 0 ? string.Empty : shard[(at + 5)..];
        return digits.Length is > 0 and <= 5 && digits.All(char.IsAsciiDigit) ? digits : "x";
    }

    [GeneratedRegex(@"^\d{1,19}_\d{1,19}$")]
    private static partial Regex VersionDirectory();

    [GeneratedRegex(@"^bytes=(\d*)-(\d*)$")]
    private static partial Regex RangeHeader();
}
