namespace Appliance.Core.Formats;

/// <summary>A stream of (key, value) records from one input file, whatever its format.</summary>
internal interface ITableReader : IDisposable
{
    ulong Key { get; }

    ReadOnlySpan<byte> Value { get; }

    /// <summary>Where the current record is: "offset N" or "line N".</summary>
    string Location { get; }

    string Path { get; }

    bool MoveNext();
}
