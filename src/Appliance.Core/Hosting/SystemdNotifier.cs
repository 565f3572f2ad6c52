using System.Net.Sockets;
using System.Text;

namespace Appliance.Core.Hosting;

/// <summary>
/// sd_notify(3) without libsystemd: under a <c>Type=notify</c> unit, systemd passes a datagram
/// socket in $NOTIFY_SOCKET; "READY=1" marks the service started, "STOPPING=1" stopping. Outside
/// systemd there is no socket and this does nothing.
/// </summary>
public static class SystemdNotifier
{
    public static void Notify(string state)
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        if (path[0] == '@')
        {
            path = "\0" + path[1..]; // abstract namespace
        }

        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            socket.Send(Encoding.ASCII.GetBytes(state));
        }
        catch (SocketException)
        {
            // Readiness is advisory: failing to notify must not stop the service.
        }
    }
}
