using System.Buffers.Binary;
using System.Net.Sockets;

namespace Appliance.Core.Net;

/// <summary>The send watchdog of a <see cref="Connection"/>: a send that does not progress is cancelled.</summary>
internal sealed partial class Connection
{
    private readonly Lock _watchLock = new();
    private Timer? _watch;
    private bool _watching;
    private long _ackedAtLook;

    /// <summary>
    /// A send that waits is watched: every <see cref="ServerLimits.SendTimeout"/> the watchdog
    /// asks the kernel how many bytes the peer has acknowledged (TCP_INFO's tcpi_bytes_acked); if
    /// none since the last look, the client is not reading and the send is cancelled. Progress is
    /// measured there, not by sends completing: the kernel wakes a writer only once a large part of
    /// its send buffer (up to MBs) has drained, which takes longer than the timeout for a reader
    /// that is slow but steady.
    /// </summary>
    private void StartWatch()
    {
        lock (_watchLock)
        {
            _watch ??= new Timer(static state => ((Connection)state!).Watch(), this, Timeout.Infinite, Timeout.Infinite);
            _ackedAtLook = BytesAcked();
            _watching = true;
            _watch.Change(_limits.SendTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    private void StopWatch()
    {
        lock (_watchLock)
        {
            _watching = false;
            _watch?.Change(Timeout.Infinite, Timeout.Infinite);
        }
    }

    private void Watch()
    {
        lock (_watchLock)
        {
            if (!_watching)
            {
                return;
            }

            var acked = BytesAcked();
            if (acked > _ackedAtLook)
            {
                _ackedAtLook = acked;
                _watch!.Change(_limits.SendTimeout, Timeout.InfiniteTimeSpan);
                return;
            }

            _watching = false;
        }

        try
        {
            _sendCancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the connection ended meanwhile
        }
    }

    /// <summary>Bytes the peer has acknowledged on this connection; -1 when the kernel does not say
    /// (then the first look without a completed send ends it, as a plain timeout would).
    /// <code>
    /// struct tcp_info (linux/tcp.h)   offset
    ///   u64 tcpi_bytes_acked           120
    /// </code></summary>
    private long BytesAcked()
    {
        const int TcpInfo = 11;
        const int BytesAckedOffset = 120;
        Span<byte> info = stackalloc byte[256];
        try
        {
            var length = _socket.GetRawSocketOption((int)ProtocolType.Tcp, TcpInfo, info);
            return length >= BytesAckedOffset + 8 ? BinaryPrimitives.ReadInt64LittleEndian(info[BytesAckedOffset..]) : -1;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or PlatformNotSupportedException)
        {
            return -1;
        }
    }
}
