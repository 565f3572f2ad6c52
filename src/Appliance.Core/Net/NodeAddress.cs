using System.Globalization;

namespace Appliance.Core.Net;

/// <summary>One replica's data-plane address.</summary>
internal sealed record NodeAddress(string Host, int Port)
{
    public override string ToString() => $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    public static bool TryParse(string text, out NodeAddress address)
    {
        address = new NodeAddress(string.Empty, 0);
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return false;
        }

        var host = text[..colon].Trim('[', ']');
        if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
        {
            return false; // "a b/c": not a host name or an IP address
        }

        address = new NodeAddress(host, port);
        return true;
    }
}
