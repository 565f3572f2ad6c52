using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Agent;

/// <summary>Staging: a version is downloaded from the transfer origin in the background (resumable,
/// every checksum verified) into its own directory; a command asks again to see how far it got.</summary>
internal sealed partial class AgentRole
{
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
