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
public sealed class AgentRole : IRole
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

    public AgentReply Stage(VersionCommand command)
    {
        if (Invalid(command, needMode: true) is { } error)
        {
            return Refuse("stage", error);
        }

        var label = Label(command);
        string staged;
        try
        {
            staged = VersionDirectory(command.Base, command.Version);
        }
        catch (IOException e)
        {
            return Refuse("stage", e.Message);
        }

        if (Directory.Exists(staged) || Anchored(command.Base).Contains(command.Version))
        {
            // A patch the base package holds folded in (retention) is as good as staged.
            return new AgentReply { Ok = true, State = AgentState.Staged, LiveVersion = LiveLabel };
        }

        lock (_lock)
        {
            if (_staging.TryGetValue(label, out var job))
            {
                if (!job.Task.IsCompleted)
                {
                    return new AgentReply { Ok = true, State = AgentState.Staging, LiveVersion = LiveLabel };
                }

                _staging.Remove(label);
                if (job.Error is not null || job.Task.IsFaulted)
                {
                    // Report the failure once; the next stage command starts a new try (resuming).
                    return new AgentReply { Ok = false, State = AgentState.Failed, Error = job.Error ?? job.Task.Exception?.InnerException?.Message, LiveVersion = LiveLabel };
                }

                return new AgentReply { Ok = true, State = AgentState.Staged, LiveVersion = LiveLabel };
            }

            var downloader = new PackageDownloader(_http, _options.Transfer, _options.Token, _options.DownloadIdleTimeout);
            _staging[label] = (StageAsync(command, downloader), downloader, null);
            return new AgentReply { Ok = true, State = AgentState.Staging, LiveVersion = LiveLabel };
        }
    }

    public async Task<AgentReply> Activate(VersionCommand command, CancellationToken cancellationToken)
    {
        if (Invalid(command, needMode: false) is { } error)
        {
            return Refuse("activate", error);
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var reply = await ActivateValid(command, cancellationToken).ConfigureAwait(false);
        (reply.Ok ? _activateOk : _activateFailed).Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        return reply;
    }

    private async Task<AgentReply> ActivateValid(VersionCommand command, CancellationToken cancellationToken)
    {
        await _activation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var shardDirectory = ShardDirectory(command.Base, command.Version);
            var anchored = Anchored(command.Base);
            List<string> patches;
            if (anchored.Contains(command.Version))
            {
                // Its own package was dropped: the base package holds it (and serves exactly it
                // when it is the last patch held).
                patches = [.. anchored.TakeWhile(p => p != command.Version), command.Version];
            }
            else
            {
                if (!Directory.Exists(VersionDirectory(command.Base, command.Version)))
                {
                    return Fail(command, $"version {Label(command)} is not staged");
                }

                var manifest = MappedShard.ReadManifest(shardDirectory);
                patches = manifest.IsBase ? [] : manifest.Patches.Append(command.Version).ToList();
            }

            if (_table.NotRetained(command.Base, patches, anchored) is { } gone)
            {
                return Fail(command, gone);
            }

            foreach (var patch in patches.Skip(anchored.Count))
            {
                if (!Directory.Exists(VersionDirectory(command.Base, patch)))
                {
                    return Fail(command, $"version {Label(command)} needs patch {patch} of base {command.Base}, which is not staged");
                }
            }

            // The marker is written first: a crash after it restarts on this version (staged and
            // verified); a switch that fails puts the previous marker back. Never a live version
            // that a restart would silently forget.
            var marker = Path.Combine(_options.DataDir, ActiveFile);
            var previous = File.Exists(marker) ? File.ReadAllBytes(marker) : null;
            AtomicFile.Write(marker, JsonSerializer.SerializeToUtf8Bytes(new ActiveMarker { Base = command.Base, Version = command.Version, RetainFrom = command.RetainFrom }, ControlJsonContext.Default.ActiveMarker));
            bool changed;
            var switching = !_table.IsLive(command.Base, patches);
            if (switching)
            {
                SystemdNotifier.Reloading();
            }

            try
            {
                changed = _table.Apply(command.Base, patches);
            }
            catch
            {
                if (previous is null)
                {
                    File.Delete(marker);
                }
                else
                {
                    AtomicFile.Write(marker, previous);
                }

                throw;
            }
            finally
            {
                if (switching)
                {
                    SystemdNotifier.Ready($"{_options.Dict} shard {_options.Shard}: serving {(LiveLabel.Length > 0 ? LiveLabel : "nothing yet")}");
                }
            }

            DropAnchoredPackages(command.Base, _table.Retain(_options.Shard, command.RetainFrom));
            if (!changed)
            {
                return new AgentReply { Ok = true, State = AgentState.Active, LiveVersion = LiveLabel };
            }

            Interlocked.Increment(ref _activations);
            _lastError = null; // a version went live: an earlier failure is history (the log keeps it)
            ControlLog.Activated(_logger, LiveLabel);
            return new AgentReply { Ok = true, State = AgentState.Active, LiveVersion = LiveLabel };
        }
        catch (Exception e) when (e is Formats.InputFormatException or IOException or InvalidOperationException)
        {
            return Fail(command, e.Message);
        }
        finally
        {
            _activation.Release();
        }
    }

    /// <summary>The patches base <paramref name="baseId"/>'s package holds folded in; none when it
    /// is not staged or holds none.</summary>
    private IReadOnlyList<string> Anchored(string baseId)
    {
        try
        {
            return Directory.Exists(ShardDirectory(baseId, baseId)) ? _table.AnchoredPatches(baseId, _options.Shard) : [];
        }
        catch (Formats.InputFormatException)
        {
            return [];
        }
    }

    /// <summary>Deletes the packages of patches the base package now holds (this shard's part; the
    /// version directory once no shard's part is left). What cannot be deleted now is deleted after
    /// the next activation.</summary>
    private void DropAnchoredPackages(string baseId, IReadOnlyList<string> anchored)
    {
        foreach (var patch in anchored)
        {
            var directory = VersionDirectory(baseId, patch);
            if (!Directory.Exists(directory))
            {
                continue;
            }

            try
            {
                var shard = ShardDirectory(baseId, patch);
                if (Directory.Exists(shard))
                {
                    Directory.Delete(shard, recursive: true);
                }

                if (!Directory.EnumerateDirectories(directory).Any())
                {
                    Directory.Delete(directory, recursive: true);
                }

                ControlLog.Retired(_logger, $"{VersionInfo.DirectoryName(baseId, patch)} (held by the base package now)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // left for the next activation's clean-up
            }
        }
    }

    /// <summary>Deletes a staged version that is not live; waits for an activation in progress, so
    /// it cannot delete what that activation is about to map.</summary>
    public AgentReply Retire(VersionCommand command)
    {
        if (Invalid(command, needMode: false) is { } error)
        {
            return Refuse("retire", error);
        }

        _activation.Wait();
        try
        {
            return RetireLocked(command);
        }
        catch (IOException e)
        {
            return Refuse("retire", e.Message);
        }
        finally
        {
            _activation.Release();
        }
    }

    private AgentReply RetireLocked(VersionCommand command)
    {
        var live = Store.Live;
        if (live is not null && live.BaseVersion == command.Base && live.Lineage.Contains(command.Version))
        {
            return new AgentReply { Ok = false, State = AgentState.Live, Error = $"version {Label(command)} is part of the live view {live.VersionLabel}", LiveVersion = LiveLabel };
        }

        var directory = VersionDirectory(command.Base, command.Version);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
            ControlLog.Retired(_logger, Label(command));
        }

        var download = Confined(Path.Combine(_options.DataDir, ".downloads", Label(command)));
        if (Directory.Exists(download))
        {
            Directory.Delete(download, recursive: true);
        }

        if (_lastError is { } last && last.Contains(Label(command), StringComparison.Ordinal))
        {
            _lastError = null; // about a version that is gone now (abandoned, retired): not the state
        }

        return new AgentReply { Ok = true, State = AgentState.Retired, LiveVersion = LiveLabel };
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

    /// <summary>"staging 100_101: 1.2 GiB of 3.0 GiB (110.0 MiB/s), 512.0 MiB resumed, ETA 0m16s".</summary>
    private static string DescribeDownload(string label, PackageDownloader downloader, TimeSpan elapsed)
    {
        var (bytes, total, resumed) = (downloader.Bytes, downloader.TotalBytes, downloader.ResumedBytes);
        var fresh = Math.Max(0, bytes - resumed) / Math.Max(elapsed.TotalSeconds, 1e-3);
        return $"staging {label}: {ProgressMeter.Bytes(bytes)} of {(total > 0 ? ProgressMeter.Bytes(total) : "?")} ({ProgressMeter.Bytes(fresh)}/s)"
            + (resumed > 0 ? $", {ProgressMeter.Bytes(resumed)} resumed" : string.Empty)
            + (total > 0 ? $" {ProgressMeter.Eta(bytes, total, elapsed)}" : string.Empty);
    }

    private async Task StageAsync(VersionCommand command, PackageDownloader downloader)
    {
        await Task.Yield();
        var label = Label(command);
        ControlLog.Staging(_logger, label, command.Base, _options.Transfer.ToString());
        Interlocked.Increment(ref _downloads);
        string? error = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var progress = ProgressMeter.ForLog(() => DescribeDownload(label, downloader, clock.Elapsed), line => ControlLog.Progress(_logger, line), ProgressMeter.LogInterval);
        try
        {
            var shardName = VersionInfo.ShardDirectoryName(_options.Dict, _options.Shard);
            var relative = $"{label}/{shardName}";
            var manifest = await downloader.FetchManifestAsync(relative, CancellationToken.None).ConfigureAwait(false);
            if (manifest.Dict != _options.Dict || manifest.Shard != _options.Shard || manifest.Version != command.Version || manifest.Base != command.Base || manifest.Mode != command.Mode)
            {
                throw new IOException($"the transfer's manifest is {manifest.Dict} shard {manifest.Shard} version {manifest.Version} (base {manifest.Base}, {manifest.Mode}); this agent serves {_options.Dict} shard {_options.Shard} and asked for {label} ({command.Mode?.Name()})");
            }

            var size = manifest.Index.Bytes + manifest.Values.Bytes;
            if (size > _options.MaxPackageBytes)
            {
                throw new IOException($"the package is {size} bytes; this agent takes at most {_options.MaxPackageBytes} (--max-package-gb)");
            }

            var free = new DriveInfo(Path.GetFullPath(_options.DataDir)).AvailableFreeSpace;
            if (size > free)
            {
                throw new IOException($"the package is {size} bytes; {_options.DataDir} has {free} bytes free");
            }

            var work = Confined(Path.Combine(_options.DataDir, ".downloads", label));
            var workShard = Path.Combine(work, shardName);
            Directory.CreateDirectory(workShard);
            downloader.Expect(manifest.Index.Bytes + manifest.Values.Bytes);
            await downloader.DownloadAsync(relative, manifest.Values, workShard, CancellationToken.None).ConfigureAwait(false);
            await downloader.DownloadAsync(relative, manifest.Index, workShard, CancellationToken.None).ConfigureAwait(false);
            AtomicFile.Write(Path.Combine(workShard, ShardLayout.ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, StorageJsonContext.Default.ShardManifest));
            var info = new VersionInfo
            {
                Dict = manifest.Dict,
                Version = manifest.Version,
                Base = manifest.Base,
                Mode = manifest.Mode,
                Patches = manifest.Patches,
                ShardCount = manifest.ShardCount,
                Codec = manifest.Codec,
                Dimension = manifest.Dimension,
                Keys = manifest.Keys,
                InputRecords = 0,
                Created = manifest.Created,
            };
            AtomicFile.Write(Path.Combine(work, VersionInfo.FileName), JsonSerializer.SerializeToUtf8Bytes(info, StorageJsonContext.Default.VersionInfo));
            if (!OperatingSystem.IsWindows())
            {
                foreach (var file in Directory.EnumerateFiles(work, "*", SearchOption.AllDirectories))
                {
                    // A staged package is never written again: read-only, so a mistaken write
                    // fails instead of changing what a server maps.
                    File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                }
            }

            Directory.Move(work, VersionDirectory(command.Base, command.Version));
            ControlLog.Staged(_logger, label, downloader.Bytes, downloader.ResumedBytes);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever staging this version throws is this version's failure, reported as such:
            // never "staged" for a version that is not on disk.
            error = e.Message;
            _lastError = $"staging {label}: {error}";
            ControlLog.StageFailed(_logger, label, error);
        }

        (error is null ? _stageOk : _stageFailed).Observe(clock.Elapsed);

        lock (_lock)
        {
            if (_staging.TryGetValue(label, out var job))
            {
                _staging[label] = (job.Task, job.Downloader, error);
            }
        }
    }
}
