namespace Appliance.Core.Net;

/// <summary>System-call level counters of a listener: how well requests are batched per read and
/// replies per write (requests ÷ receives is the pipelining a server actually sees).</summary>
public sealed class TransportStats
{
    private long _receives;
    private long _sends;
    private long _bytesIn;
    private long _bytesOut;

    public long Receives => Interlocked.Read(ref _receives);

    public long Sends => Interlocked.Read(ref _sends);

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    internal void Received(int bytes)
    {
        Interlocked.Increment(ref _receives);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    internal void Sent(int bytes)
    {
        Interlocked.Increment(ref _sends);
        Interlocked.Add(ref _bytesOut, bytes);
    }
}
