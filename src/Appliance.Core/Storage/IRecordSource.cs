namespace Appliance.Core.Storage;

/// <summary>
/// Records the shard writer reads twice, in the same order: every key first (to build the index
/// and find which occurrence of a key wins), then the values (to write the winners). A build
/// feeds parsed input (<see cref="EntryBuffer"/>); a merge feeds the layers it folds
/// (<see cref="LayerRecords"/>), read in place from their mapped files, never copied.
/// </summary>
internal interface IRecordSource
{
    long Count { get; }

    /// <summary>The values' bytes summed (sizes the values file up front).</summary>
    long ValueBytes { get; }

    /// <summary>The keys in order, in chunks of <see cref="EntryBuffer.ChunkSize"/>; every chunk
    /// is full except the last.</summary>
    IReadOnlyList<ulong[]> KeyChunks { get; }

    /// <summary>How many keys chunk <paramref name="chunk"/> holds.</summary>
    int ChunkCount(int chunk);

    /// <summary>A reader of the values, in the keys' order.</summary>
    IValueReader Values();
}

/// <summary>The values of a <see cref="IRecordSource"/>, one after the other.</summary>
internal interface IValueReader
{
    ReadOnlySpan<byte> Next();
}
