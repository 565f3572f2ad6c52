namespace Appliance.Core.Client;

/// <summary>One shard's reply to its part of a batch: the reply frame (owned) or why it failed.</summary>
internal sealed class ShardAnswer : IDisposable
{
    private ShardAnswer(Reply? reply, string? error, string replica)
    {
        Reply = reply;
        Error = error;
        Replica = replica;
    }

    public Reply? Reply { get; }

    public string? Error { get; }

    /// <summary>The replica that answered (or the last one tried).</summary>
    public string Replica { get; }

    public bool Succeeded => Reply is not null;

    public static ShardAnswer Success(Reply reply, string replica) => new(reply, null, replica);

    public static ShardAnswer Failure(string error, string replica) => new(null, error, replica);

    public void Dispose() => Reply?.Dispose();
}
