namespace Appliance.Core.Protocol;

/// <summary>What a cluster lookup says about one key.</summary>
internal enum KeyStatus : byte
{
    Found = 0,
    Missing = 1,

    /// <summary>Its shard could not answer (every replica failed or timed out). Never reported as
    /// an empty value, which was the original client's bug.</summary>
    Failed = 2,
}
