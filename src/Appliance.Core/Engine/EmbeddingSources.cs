using Appliance.Core.Client;
using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>Opens the embedding source <see cref="EngineOptions"/> names, with a name for /status.</summary>
internal static class EmbeddingSources
{
    /// <param name="inProcess">the table of this process's server role, for <see cref="EmbeddingOrigin.InProcess"/></param>
    public static (IEmbeddingSource Source, string Name) Open(EngineOptions options, LocalTable? inProcess)
    {
        switch (options.Origin)
        {
            case EmbeddingOrigin.InProcess:
                var table = inProcess ?? throw new InvalidOperationException("the engine reads the server role of its process, and there is none");
                return (new LocalEmbeddingSource(table), $"local (this process's server, shard {string.Join(",", table.Shards)} of {table.Shards.Count})");
            case EmbeddingOrigin.LocalDirectory:
                var dataDir = options.DataDir ?? throw new InvalidOperationException("the engine's local source needs a data directory");
                var local = LocalTable.OpenNewest(dataDir, options.Dict, options.InMemory);
                return (new LocalEmbeddingSource(local, ownsTable: true), $"local {dataDir} ({local.Shards.Count} shards, version {local.Store(0).Live!.VersionLabel})");
            default:
                var conf = options.ClientConf ?? throw new InvalidOperationException("the engine's cluster source needs a cube.conf");
                var client = new CubeClient(CubeConfReader.Read(conf));
                var policy = options.OnShardFailure == ShardFailurePolicy.Error ? "error" : "zero";
                return (new RemoteEmbeddingSource(client, options.Dict, options.OnShardFailure), $"remote {conf} (on shard failure: {policy})");
        }
    }
}
