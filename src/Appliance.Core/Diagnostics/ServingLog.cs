using Microsoft.Extensions.Logging;

namespace Appliance.Core.Diagnostics;

/// <summary>Log messages of the server role (event ids 200-299).</summary>
internal static partial class ServingLog
{
    [LoggerMessage(200, LogLevel.Information, "{Dict} shard {Shard}: serving version {Version} ({Keys} keys, {Bytes} bytes mapped, layers {Layers})")]
    public static partial void Serving(ILogger logger, string dict, int shard, string version, long keys, long bytes, string layers);

    [LoggerMessage(201, LogLevel.Warning, "{Dict} shard {Shard}: no complete version in {DataDir}; every key is answered as missing until one is loaded")]
    public static partial void NothingToServe(ILogger logger, string dict, int shard, string dataDir);

    [LoggerMessage(202, LogLevel.Error, "{Dict} shard {Shard}: loading a newer version failed, the live version keeps serving: {Error}")]
    public static partial void LoadFailed(ILogger logger, string dict, int shard, string error);

    [LoggerMessage(203, LogLevel.Warning, "RESP: failed AUTH from {Peer} ({OnConnection} on its connection; {HeldBack} more from it not logged in the last 10 s)")]
    public static partial void RespAuthFailed(ILogger logger, string peer, int onConnection, long heldBack);
}
