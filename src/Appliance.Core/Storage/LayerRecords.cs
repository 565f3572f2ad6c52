namespace Appliance.Core.Storage;

/// <summary>
/// A mapped package's records as input to the shard writer: the keys gathered once (8 bytes a
/// record), the values read in place when written. A merge of a 10M-key base and its patches
/// holds the keys and the new index in memory, never a copy of the values.
/// The caller keeps a reference on <paramref name="layer"/> until the write is done.
/// </summary>
internal sealed class LayerRecords : IRecordSource
{
    private readonly MappedShard _layer;
    private readonly List<ulong[]> _keyChunks = [];

    public LayerRecords(MappedShard layer)
    {
        _layer = layer;
        var records = layer.Records();
        while (records.Next(out var key, out var value))
        {
            var slot = (int)(Count & (EntryBuffer.ChunkSize - 1));
            if (slot == 0)
            {
                _keyChunks.Add(new ulong[EntryBuffer.ChunkSize]);
            }

            _keyChunks[^1][slot] = key;
            Count++;
            ValueBytes += value.Length;
        }
    }

    public long Count { get; private set; }

    public long ValueBytes { get; private set; }

    public IReadOnlyList<ulong[]> KeyChunks => _keyChunks;

    public int ChunkCount(int chunk) =>
        chunk < _keyChunks.Count - 1 ? EntryBuffer.ChunkSize : (int)(Count - ((long)chunk << EntryBuffer.ChunkShift));

    public IValueReader Values() => new Reader(_layer.Records());

    private sealed class Reader(RecordWalker records) : IValueReader
    {
        private RecordWalker _records = records;

        public ReadOnlySpan<byte> Next() =>
            _records.Next(out _, out var value) ? value : throw new InvalidOperationException("the layer has fewer records than its keys");
    }
}
