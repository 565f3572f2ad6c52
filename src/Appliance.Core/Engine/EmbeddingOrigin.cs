namespace Appliance.Core.Engine;

/// <summary>Where the engine's embeddings come from.</summary>
internal enum EmbeddingOrigin
{
    /// <summary>The server role of the same process (<c>--roles all</c>).</summary>
    InProcess,

    /// <summary>A builder's output on this machine (<c>--local --data-dir</c>).</summary>
    LocalDirectory,

    /// <summary>A cluster, through the client and its cube.conf (<c>--conf</c>).</summary>
    Cluster,
}
