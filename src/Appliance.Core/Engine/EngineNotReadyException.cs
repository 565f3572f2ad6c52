namespace Appliance.Core.Engine;

/// <summary>The engine cannot answer correctly yet: the table its model needs is not live on every
/// shard. HTTP 503 with the reason; NotReady on the binary protocol. Never a score from zeros.</summary>
internal sealed class EngineNotReadyException(string reason) : Exception(reason);
