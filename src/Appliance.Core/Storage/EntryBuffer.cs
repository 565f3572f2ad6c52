using System.Buffers.Binary;

namespace Appliance.Core.Storage;

/// <summary>
/// Records of one input file that route to one shard, in input order, packed for a build that may
/// hold hundreds of millions of them: keys in fixed chunks of <see cref="ChunkSize"/>, values as
/// one stream of <c>[u32 length, little-endian][bytes]</c> in blocks of up to 64 MiB. Nothing grows
/// by doubling and nothing is stored per record beyond its key, its length and its bytes (12 bytes
/// + the value, against 20 + the value and up to 2x spare room before): a build's memory is
/// mostly first-touched pages, which cost the kernel ~0.8 s per GB on these machines.
/// Values are read back only in input order (<see cref="ValueCursor"/>), which is all the shard
/// writer needs.
/// </summary>
internal sealed class EntryBuffer : IRecordSource
{
    public const int ChunkShift = 16;
    public const int ChunkSize = 1 << ChunkShift;

    private const int MaxBlockSize = 64 << 20;
    private const int LengthSize = 4;

    private readonly List<ulong[]> _keyChunks = [];
    private readonly List<byte[]> _blocks = [];
    private readonly List<int> _blockEnds = [];

    public long Count { get; private set; }

    public long ValueBytes { get; private set; }

    /// <summary>The keys in input order; every chunk is full except the last.</summary>
    public IReadOnlyList<ulong[]> KeyChunks => _keyChunks;

    /// <summary>How many keys chunk <paramref name="chunk"/> holds.</summary>
    public int ChunkCount(int chunk) =>
        chunk < _keyChunks.Count - 1 ? ChunkSize : (int)(Count - ((long)chunk << ChunkShift));

    /// <summary>Reserves room for a value of <paramref name="length"/> bytes and returns it to be filled.</summary>
    public Span<byte> Add(ulong key, int length)
    {
        var slot = (int)(Count & (ChunkSize - 1));
        if (slot == 0)
        {
            _keyChunks.Add(new ulong[ChunkSize]);
        }

        _keyChunks[^1][slot] = key;
        var need = LengthSize + length;
        if (_blocks.Count == 0 || _blockEnds[^1] + need > _blocks[^1].Length)
        {
            // Blocks grow from 64 KiB so that many small (file, shard) buffers stay small.
            var size = _blocks.Count == 0 ? 64 << 10 : Math.Min(MaxBlockSize, _blocks[^1].Length * 2);
            _blocks.Add(new byte[Math.Max(size, need)]);
            _blockEnds.Add(0);
        }

        var block = _blocks[^1];
        var at = _blockEnds[^1];
        BinaryPrimitives.WriteInt32LittleEndian(block.AsSpan(at), length);
        _blockEnds[^1] = at + need;
        Count++;
        ValueBytes += length;
        return block.AsSpan(at + LengthSize, length);
    }

    public void Add(ulong key, ReadOnlySpan<byte> value) => value.CopyTo(Add(key, value.Length));

    public IValueReader Values() => new ValueCursor(this);

    /// <summary>Reads the values back in input order.</summary>
    private sealed class ValueCursor(EntryBuffer buffer) : IValueReader
    {
        private int _block;
        private int _at;

        public ReadOnlySpan<byte> Next()
        {
            if (_at == buffer._blockEnds[_block])
            {
                _block++;
                _at = 0;
            }

            var bytes = buffer._blocks[_block];
            var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(_at));
            var value = bytes.AsSpan(_at + LengthSize, length);
            _at += LengthSize + length;
            return value;
        }
    }
}
