using System.Text.Json;
using Appliance.Core.Diagnostics;
using Appliance.Core.Formats;
using Appliance.Core.Hosting;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Agent;

/// <summary>Activation and retirement: a staged version becomes live by one atomic switch of the
/// server's store (recorded in ACTIVE.json); one not live is deleted on the transfer's word.</summary>
internal sealed partial class AgentRole
{
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
}
