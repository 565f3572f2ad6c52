using Appliance.Core.Diagnostics;
using Appliance.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Control.Transfer;

/// <summary>The transfer's builds in its output directory: a version built in-process from its
/// donefile input, and an abandoned build moved aside.</summary>
internal sealed class VersionBuilder(TransferOptions options, DonefileSource donefiles, ILogger logger)
{
    /// <summary>Builds unless a complete build of this version is already in the output (a restart
    /// after the build, or a version built ahead of time).</summary>
    public async Task BuildAsync(VersionRecord version, BuildProgress progress, CancellationToken token)
    {
        if (PackageCatalog.TryReadInfo(Path.Combine(version.Output, VersionInfo.FileName)) is { } info && info.Dict == options.DictName && info.ShardCount == options.ShardNum)
        {
            ControlLog.Transfer(logger, $"{version.Label} is already built in {version.Output}; not building again");
            return;
        }

        var input = await donefiles.ResolveInputAsync(version, token).ConfigureAwait(false);
        ControlLog.Transfer(logger, $"building {version.Label} from {input}");
        await Task.Run(() => TableBuilder.Build(new BuildOptions
        {
            InputPath = input,
            OutputPath = options.OutputAddress,
            Dict = options.DictName,
            Shards = options.ShardNum,
            Mode = version.Mode,
            Version = version.Version,
            Base = version.IsBase ? null : version.Depend,
            Codec = options.ValueCodec,
        }, progress: progress), token).ConfigureAwait(false);
    }

    /// <summary>An abandoned build leaves the output, so later deltas are not built on it and the
    /// agents cannot fetch it; kept under output/.abandoned/ for whoever wants to look. False when
    /// there was no build.</summary>
    public bool MoveAside(VersionRecord record)
    {
        var built = Path.Combine(options.OutputAddress, record.Label);
        if (!Directory.Exists(built))
        {
            return false;
        }

        var aside = Path.Combine(options.OutputAddress, ".abandoned");
        Directory.CreateDirectory(aside);
        Directory.Move(built, Path.Combine(aside, $"{record.Label}-{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}"));
        return true;
    }
}
