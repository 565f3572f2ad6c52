namespace Appliance.Core.Net;

/// <summary>The receive memory that large requests may take, shared by every connection of a
/// listener: a connection takes what a request needs beyond its first buffer before it grows, and
/// gives it back when the request is done.</summary>
internal sealed class BufferBudget(long limit)
{
    private long _held;

    public long Held => Interlocked.Read(ref _held);

    public bool TryTake(long bytes)
    {
        if (Interlocked.Add(ref _held, bytes) <= limit)
        {
            return true;
        }

        Interlocked.Add(ref _held, -bytes);
        return false;
    }

    public void Give(long bytes) => Interlocked.Add(ref _held, -bytes);
}
