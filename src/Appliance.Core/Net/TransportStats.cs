namespace Appliance.Core.Net;

/// <summary>System-call level counters of a listener: how well requests are batched per read and
/// replies per write (frames ÷ receives is the pipelining a server actually sees).</summary>
public sealed class TransportStats
{
    private long _receives;
    private long _sends;
    private long _frames;
    private long _bytesIn;
    private long _bytesOut;

    public long Receives => Interlocked.Read(ref _receives);

    public long Sends => Interlocked.Read(ref _sends);

    public long Frames => Interlocked.Read(ref _frames);

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    internal void Received(int bytes, int frames)
    {
        Interlocked.Increment(ref _receives);
        Interlocked.Add(ref _bytesIn, bytes);
        Interlocked.Add(ref _frames, frames);
    }

    internal void Sent(int bytes)
    {
        Interlocked.Increment(ref _sends);
        Interlocked.Add(ref _bytesOut, bytes);
    }
}
