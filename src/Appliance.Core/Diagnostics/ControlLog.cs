using Microsoft.Extensions.Logging;

namespace Appliance.Core.Diagnostics;

/// <summary>Log messages of the agent and transfer roles (event ids 300-399).</summary>
internal static partial class ControlLog
{
    [LoggerMessage(300, LogLevel.Information, "agent: staging {Version} (base {Base}) from {Origin}")]
    public static partial void Staging(ILogger logger, string version, string @base, string origin);

    [LoggerMessage(309, LogLevel.Information, "agent: {Progress}")]
    public static partial void Progress(ILogger logger, string progress);

    [LoggerMessage(301, LogLevel.Information, "agent: staged {Version}: {Bytes} bytes ({Resumed} resumed from an earlier try)")]
    public static partial void Staged(ILogger logger, string version, long bytes, long resumed);

    [LoggerMessage(302, LogLevel.Warning, "agent: staging {Version} failed: {Error}")]
    public static partial void StageFailed(ILogger logger, string version, string error);

    [LoggerMessage(303, LogLevel.Information, "agent: live version is now {Version}")]
    public static partial void Activated(ILogger logger, string version);

    [LoggerMessage(304, LogLevel.Warning, "agent: activating {Version} failed, {Live} keeps serving: {Error}")]
    public static partial void ActivateFailed(ILogger logger, string version, string live, string error);

    [LoggerMessage(305, LogLevel.Information, "agent: retired {Version}")]
    public static partial void Retired(ILogger logger, string version);

    [LoggerMessage(306, LogLevel.Warning, "agent: refused {Command}: {Reason}")]
    public static partial void Refused(ILogger logger, string command, string reason);

    [LoggerMessage(310, LogLevel.Information, "transfer: {Message}")]
    public static partial void Transfer(ILogger logger, string message);

    [LoggerMessage(311, LogLevel.Warning, "transfer: {Message}")]
    public static partial void TransferWarning(ILogger logger, string message);

    [LoggerMessage(320, LogLevel.Information, "engine: model {Version} is live (was {Previous})")]
    public static partial void ModelReloaded(ILogger logger, string version, string previous);

    [LoggerMessage(321, LogLevel.Warning, "engine: model package refused, {Live} keeps serving: {Error}")]
    public static partial void ModelRefused(ILogger logger, string live, string error);

    [LoggerMessage(324, LogLevel.Warning, "engine: {Keys} key(s) of a failed shard scored as zero vectors (--on-shard-failure zero; the response says unavailable_keys; {HeldBack} more degraded batch(es) since the last such line)")]
    public static partial void Degraded(ILogger logger, int keys, long heldBack);

    [LoggerMessage(323, LogLevel.Warning, "engine: cannot learn which table version the shards serve (not ready until it can): {Error}")]
    public static partial void VersionProbeFailed(ILogger logger, string error);

    [LoggerMessage(322, LogLevel.Information, "engine: model {Next} waits for table version {Required} (serving {Served}); the live model keeps serving")]
    public static partial void ModelWaiting(ILogger logger, string next, string required, string served);
}
