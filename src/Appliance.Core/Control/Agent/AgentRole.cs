using System.Globalization;
using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Hosting;
using Appliance.Core.Storage;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Control.Agent;

/// <summary>
/// The agent role: on the serving host, in the server's process, it stages versions (downloads
/// them from the configured transfer origin, verifies every checksum), activates one (an atomic
/// switch of the server's store) and retires old ones — on authenticated HTTP commands. Every path
/// is built from validated ids under --data-dir; nothing runs through a shell. The version last
/// activated is recorded in ACTIVE.json and served again after a restart.
/// <code>
/// data-dir/ACTIVE.json                          {"base","version"} last activated
/// data-dir/&lt;base&gt;_&lt;version&gt;/version.json       staged (complete and verified) versions
/// data-dir/&lt;base&gt;_&lt;version&gt;/&lt;dict&gt;_part&lt;i&gt;/
/// data-dir/.downloads/&lt;base&gt;_&lt;version&gt;/…       downloads in progress (*.part, resumable)
/// </code>
/// </summary>
internal sealed partial class AgentRole : IRole
{
    private const string ActiveFile = "ACTIVE.json";

    private readonly AgentOptions _options;
    private readonly LocalTable _table;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly Dictionary<string, (Task Task, PackageDownloader Downloader, string? Error)> _staging = [];
    private readonly LatencyHistogram _stageOk = new(LatencyHistogram.LongBounds);
    private readonly LatencyHistogram _stageFailed = new(LatencyHistogram.LongBounds);
    private readonly LatencyHistogram _activateOk = new(LatencyHistogram.LongBounds);
    private readonly LatencyHistogram _activateFailed = new(LatencyHistogram.LongBounds);
    private readonly SemaphoreSlim _activation = new(1, 1);
    private long _downloads;
    private long _activations;
    private string? _lastError;

    public AgentRole(AgentOptions options, LocalTable table, HttpClient http, ILogger logger)
    {
        _options = options;
        _table = table;
        _http = http;
        _logger = logger;
        Directory.CreateDirectory(options.DataDir);
    }

    public AgentOptions Options => _options;

    public string Name => "agent";

    public int DataPort => 0;

    public void MapRoutes(IEndpointRouteBuilder routes) => AgentEndpoints.Map(routes, this, _logger);

    /// <summary>Serves the version recorded in ACTIVE.json, if any.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        LoadActive();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync()
    {
        _activation.Dispose();
        return ValueTask.CompletedTask;
    }

    public void WriteStatus(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, GetStatus(), ControlJsonContext.Default.AgentStatus);

    public void WriteMetrics(MetricsWriter metrics)
    {
        var s = GetStatus();
        var labels = $"dict=\"{s.Dict}\",shard=\"{s.Shard.ToString(CultureInfo.InvariantCulture)}\"";
        metrics.Counter("cube_agent_downloads_total", "Stagings started (a resumed download counts again).", s.Downloads, labels);
        metrics.Counter("cube_agent_activations_total", "Versions activated.", s.Activations, labels);
        metrics.Gauge("cube_agent_staged_versions", "Versions on disk, verified.", s.Staged.Count, labels);
        metrics.Gauge("cube_agent_staging", "Stagings in progress or just finished.", s.Staging.Count, labels);
        foreach (var staged in s.Staged)
        {
            metrics.Gauge("cube_agent_staged_version_info", "A version staged on this node, verified and ready to activate (the label; always 1).", 1, $"{labels},version=\"{MetricsWriter.Escape(staged)}\"");
        }

        const string Help = "Agent operations in seconds: stage (manifest, download, verify) and activate (map and switch), by outcome.";
        metrics.Histogram("cube_agent_operation_duration_seconds", Help, _stageOk, $"{labels},op=\"stage\",outcome=\"ok\"");
        metrics.Histogram("cube_agent_operation_duration_seconds", Help, _stageFailed, $"{labels},op=\"stage\",outcome=\"failed\"");
        metrics.Histogram("cube_agent_operation_duration_seconds", Help, _activateOk, $"{labels},op=\"activate\",outcome=\"ok\"");
        metrics.Histogram("cube_agent_operation_duration_seconds", Help, _activateFailed, $"{labels},op=\"activate\",outcome=\"failed\"");
    }

    private void LoadActive()
    {
        var path = Path.Combine(_options.DataDir, ActiveFile);
        if (!File.Exists(path))
        {
            return;
        }

        try
        {
            var marker = JsonSerializer.Deserialize(File.ReadAllBytes(path), ControlJsonContext.Default.ActiveMarker)
                ?? throw new InvalidOperationException($"{path} is empty");
            Activate(new VersionCommand { Version = marker.Version, Base = marker.Base, RetainFrom = marker.RetainFrom }, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or Formats.InputFormatException)
        {
            _lastError = $"restoring the active version from {path}: {e.Message}";
            ControlLog.ActivateFailed(_logger, "(from ACTIVE.json)", "nothing", _lastError);
        }
    }

    public AgentStatus GetStatus()
    {
        var live = Store.Live;
        List<StagingProgress> staging;
        lock (_lock)
        {
            staging = _staging.Select(kv => new StagingProgress
            {
                Version = kv.Key,
                State = !kv.Value.Task.IsCompleted ? AgentState.Staging : kv.Value.Error is null ? AgentState.Staged : AgentState.Failed,
                Bytes = kv.Value.Downloader.Bytes,
                TotalBytes = kv.Value.Downloader.TotalBytes,
                ResumedBytes = kv.Value.Downloader.ResumedBytes,
                Error = kv.Value.Error,
            }).ToList();
        }

        return new AgentStatus
        {
            Dict = _options.Dict,
            Shard = _options.Shard,
            LiveVersion = live?.VersionLabel ?? string.Empty,
            LiveBase = live?.BaseVersion ?? string.Empty,
            LiveLayers = live?.Lineage.ToList() ?? [],
            Staged = StagedVersions(),
            Staging = staging,
            Transfer = _options.Transfer.ToString(),
            Downloads = Interlocked.Read(ref _downloads),
            Activations = Interlocked.Read(ref _activations),
            LastError = _lastError,
        };
    }

    private ShardStore Store => _table.Store(_options.Shard);

    private string LiveLabel => Store.Live?.VersionLabel ?? string.Empty;

    private static string Label(VersionCommand c) => VersionInfo.DirectoryName(c.Base, c.Version);

    private string VersionDirectory(string baseId, string version) =>
        Confined(Path.Combine(_options.DataDir, VersionInfo.DirectoryName(baseId, version)));

    /// <summary>A path under the data dir with no symbolic link on the way from the data dir to
    /// it (ids are validated, so only a link planted in the data dir could lead elsewhere): the
    /// agent writes and deletes only inside its own directory.</summary>
    private string Confined(string path)
    {
        var root = Path.GetFullPath(_options.DataDir);
        var full = Path.GetFullPath(path);
        if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new IOException($"{full} is outside the data dir {root}");
        }

        for (var at = full; at.Length > root.Length; at = Path.GetDirectoryName(at)!)
        {
            var info = new DirectoryInfo(at);
            if (info.Exists || File.Exists(at))
            {
                if (info.LinkTarget is not null || new FileInfo(at).LinkTarget is not null)
                {
                    throw new IOException($"{at} is a symbolic link; the agent only reads and writes real directories under {root}");
                }
            }
        }

        return full;
    }

    private string ShardDirectory(string baseId, string version) => _table.ShardDirectory(baseId, version, _options.Shard);

    private List<string> StagedVersions() =>
        Directory.EnumerateDirectories(_options.DataDir)
            .Where(d => File.Exists(Path.Combine(d, VersionInfo.FileName)))
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)
            .ToList()!;

    /// <summary>Checks a command: ids are digits (so no request text can reach a path), a base is
    /// its own base, a delta is newer than its base.</summary>
    internal static string? Invalid(VersionCommand c, bool needMode)
    {
        if (!VersionId.IsValid(c.Version) || !VersionId.IsValid(c.Base))
        {
            return $"version '{c.Version}' and base '{c.Base}' must be ids of 1-19 digits";
        }

        var isBase = c.Version == c.Base;
        if (!isBase && VersionId.Compare(c.Version, c.Base) <= 0)
        {
            return $"a delta's version {c.Version} must be newer than its base {c.Base}";
        }

        if (needMode && c.Mode != (isBase ? VersionMode.Base : VersionMode.Delta))
        {
            return $"mode '{c.Mode?.Name()}' does not match version {c.Version} of base {c.Base}";
        }

        return null;
    }

    private AgentReply Refuse(string command, string error)
    {
        ControlLog.Refused(_logger, command, error);
        return new AgentReply { Ok = false, State = AgentState.Refused, Error = error, LiveVersion = LiveLabel };
    }

    private AgentReply Fail(VersionCommand command, string error)
    {
        _lastError = error;
        ControlLog.ActivateFailed(_logger, Label(command), LiveLabel, error);
        return new AgentReply { Ok = false, State = AgentState.Failed, Error = error, LiveVersion = LiveLabel };
    }

}
