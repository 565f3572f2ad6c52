using System.Text;

namespace Appliance.Core.Brpc;

/// <summary>A DictResponse read: per key its status (0 found) and bytes, and the version.</summary>
internal sealed class SeekAnswer
{
    private SeekAnswer(uint[] status, byte[][] values, string version)
    {
        Status = status;
        Values = values;
        Version = version;
    }

    public IReadOnlyList<uint> Status { get; }

    public IReadOnlyList<byte[]> Values { get; }

    public string Version { get; }

    public static SeekAnswer Read(ReadOnlySpan<byte> payload, int expected)
    {
        var status = new List<uint>(expected);
        var values = new List<byte[]>(expected);
        var version = DictResponse.Read(payload, (status, values), static (s, _, st, value) =>
        {
            s.status.Add(st);
            s.values.Add(value.ToArray());
        });
        if (status.Count != expected)
        {
            throw new IOException($"the reply has {status.Count} values for {expected} keys");
        }

        return new SeekAnswer([.. status], [.. values], Encoding.UTF8.GetString(version));
    }
}
