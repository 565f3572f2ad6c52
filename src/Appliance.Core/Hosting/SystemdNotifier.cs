using System.Net.Sockets;
using System.Text;

namespace Appliance.Core.Hosting;

/// <summary>
/// sd_notify(3) without libsystemd: under a <c>Type=notify</c> unit, systemd passes a datagram
/// socket in $NOTIFY_SOCKET; "READY=1" marks the service started, "STOPPING=1" stopping,
/// "RELOADING=1" … "READY=1" a version switch (<c>systemctl status</c> shows "reloading" meanwhile),
/// "STATUS=" the line <c>systemctl status</c> prints. Outside systemd there is no socket and this
/// does nothing.
/// </summary>
internal static class SystemdNotifier
{
    /// <summary>A live version is being switched: RELOADING=1 with the monotonic time systemd asks for.</summary>
    public static void Reloading() =>
        Notify($"RELOADING=1\nMONOTONIC_USEC={(System.Diagnostics.Stopwatch.GetTimestamp() / (System.Diagnostics.Stopwatch.Frequency / 1_000_000)).ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    /// <summary>Serving again (after a switch, or a failed one): READY=1 and what is served now.</summary>
    public static void Ready(string status) => Notify($"READY=1\nSTATUS={status}");

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
