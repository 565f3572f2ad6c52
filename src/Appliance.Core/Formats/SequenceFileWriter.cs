using System.Buffers.Binary;
using System.Text;

namespace Appliance.Core.Formats;

/// <summary>
/// Writes SequenceFiles byte-compatible with Cube's kvtool.py <c>SequenceFileWriter</c>:
/// an 80-byte header naming BytesWritable twice, 16 sync bytes, then
/// records with big-endian lengths and a raw little-endian 8-byte key. After every
/// <see cref="SyncInterval"/> bytes of keys and values a sync escape (FF FF FF FF + sync) follows
/// the record, as kvtool.py does.
/// With <c>bytesWritableFraming</c> the key and value carry Hadoop's own 4-byte big-endian length
/// prefix instead, as a real Hadoop job writing BytesWritable would.
/// </summary>
internal sealed class SequenceFileWriter : IDisposable
{
    public const int SyncInterval = 2000;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly byte[] _sync;
    private readonly bool _bytesWritableFraming;
    private readonly byte[] _scratch = new byte[24];
    private int _sinceSync;

    public SequenceFileWriter(Stream stream, ReadOnlySpan<byte> sync, bool bytesWritableFraming = false, bool ownsStream = false)
    {
        if (sync.Length != SequenceFileHeader.SyncSize)
        {
            throw new ArgumentException($"sync must be {SequenceFileHeader.SyncSize} bytes", nameof(sync));
        }

        _stream = stream;
        _ownsStream = ownsStream;
        _sync = sync.ToArray();
        _bytesWritableFraming = bytesWritableFraming;
        WriteHeader();
    }

    public long RecordCount { get; private set; }

    /// <summary>Creates <paramref name="path"/> with random sync bytes (seeded for reproducible output).</summary>
    public static SequenceFileWriter Create(string path, int? seed = null)
    {
        Span<byte> sync = stackalloc byte[SequenceFileHeader.SyncSize];
        (seed is { } s ? new Random(s) : Random.Shared).NextBytes(sync);
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        return new SequenceFileWriter(stream, sync, ownsStream: true);
    }

    public void Write(ulong key, ReadOnlySpan<byte> value)
    {
        var prefix = _bytesWritableFraming ? 4 : 0;
        var keyLength = 8 + prefix;
        var span = _scratch.AsSpan();
        BinaryPrimitives.WriteInt32BigEndian(span, keyLength + prefix + value.Length);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], keyLength);
        var at = 8;
        if (_bytesWritableFraming)
        {
            BinaryPrimitives.WriteInt32BigEndian(span[at..], 8);
            at += 4;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[at..], key);
        at += 8;
        if (_bytesWritableFraming)
        {
            BinaryPrimitives.WriteInt32BigEndian(span[at..], value.Length);
            at += 4;
        }

        _stream.Write(span[..at]);
        _stream.Write(value);
        RecordCount++;
        _sinceSync += 8 + value.Length;
        if (_sinceSync >= SyncInterval)
        {
            BinaryPrimitives.WriteInt32BigEndian(span, -1);
            _stream.Write(span[..4]);
            _stream.Write(_sync);
            _sinceSync = 0;
        }
    }

    /// <summary>Writes buffered records through to the disk (fsync for a file).</summary>
    public void Flush()
    {
        if (_stream is FileStream file)
        {
            file.Flush(flushToDisk: true);
        }
        else
        {
            _stream.Flush();
        }
    }

    public void Dispose()
    {
        _stream.Flush();
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }

    private void WriteHeader()
    {
        Span<byte> header = stackalloc byte[80];
        "SEQ"u8.CopyTo(header);
        header[3] = 6;
        var className = Encoding.ASCII.GetBytes(SequenceFileHeader.BytesWritableClass);
        header[4] = (byte)className.Length;
        className.CopyTo(header[5..]);
        header[39] = (byte)className.Length;
        className.CopyTo(header[40..]);
        header[74..80].Clear(); // compressed, block compressed, metadata count (int32 0)
        _stream.Write(header);
        _stream.Write(_sync);
    }
}
