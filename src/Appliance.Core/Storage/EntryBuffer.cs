namespace Appliance.Core.Storage;

/// <summary>
/// Records of one input file that route to one shard, in input order: keys plus value bytes
/// packed into 64 MiB blocks (no per-record allocation, no 2 GiB array limit).
/// </summary>
internal sealed class EntryBuffer
{
    private const int BlockSize = 64 << 20;

    private readonly List<byte[]> _blocks = [];
    private ulong[] _keys = new ulong[256];
    private int[] _block = new int[256];
    private int[] _offset = new int[256];
    private int[] _length = new int[256];
    private int _blockUsed;

    public int Count { get; private set; }

    public long ValueBytes { get; private set; }

    public ulong Key(int i) => _keys[i];

    public ReadOnlySpan<byte> Value(int i) => _blocks[_block[i]].AsSpan(_offset[i], _length[i]);

    public ReadOnlySpan<ulong> Keys => _keys.AsSpan(0, Count);

    /// <summary>Reserves room for a value of <paramref name="length"/> bytes and returns it to be filled.</summary>
    public Span<byte> Add(ulong key, int length)
    {
        if (Count == _keys.Length)
        {
            var size = Count * 2;
            Array.Resize(ref _keys, size);
            Array.Resize(ref _block, size);
            Array.Resize(ref _offset, size);
            Array.Resize(ref _length, size);
        }

        var last = _blocks.Count == 0 ? null : _blocks[^1];
        if (last is null || _blockUsed + length > last.Length)
        {
            // Blocks grow from 64 KiB so that many small (file, shard) buffers stay small.
            var size = last is null ? 64 << 10 : Math.Min(BlockSize, last.Length * 2);
            _blocks.Add(new byte[Math.Max(size, length)]);
            _blockUsed = 0;
        }

        var i = Count++;
        _keys[i] = key;
        _block[i] = _blocks.Count - 1;
        _offset[i] = _blockUsed;
        _length[i] = length;
        _blockUsed += length;
        ValueBytes += length;
        return _blocks[^1].AsSpan(_offset[i], length);
    }

    public void Add(ulong key, ReadOnlySpan<byte> value) => value.CopyTo(Add(key, value.Length));
}
