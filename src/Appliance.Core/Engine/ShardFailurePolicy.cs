namespace Appliance.Core.Engine;

/// <summary>What a remote source does with the keys of a shard that could not answer
/// (<c>--on-shard-failure</c>).</summary>
internal enum ShardFailurePolicy
{
    /// <summary>Zero vectors, counted as missing keys.</summary>
    Zero,

    /// <summary>The request fails (HTTP 503, NotReady on the binary protocol).</summary>
    Error,
}
