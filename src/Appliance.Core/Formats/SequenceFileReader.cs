using System.Buffers.Binary;
using System.Text;
using Appliance.Core.Buffers;

namespace Appliance.Core.Formats;

/// <summary>
/// Streams (key, value) records out of an uncompressed Hadoop v6 SequenceFile, as written by
/// Cube's kvtool.py / seq_generator or by Hadoop itself.
/// <code>
/// header:  'S' 'E' 'Q' 0x06 | vint+utf8 key class | vint+utf8 value class
///          | u8 compressed | u8 block compressed | i32 BE metadata count | pairs | 16-byte sync
/// record:  i32 BE record_len (= key_len + value_len; −1 = sync escape: 16 sync bytes follow)
///          | i32 BE key_len | key | value
/// </code>
/// Every malformed input throws <see cref="InputFormatException"/> naming the file and the byte
/// offset. <see cref="Value"/> is valid until the next <see cref="MoveNext"/>.
/// </summary>
internal sealed class SequenceFileReader : ITableReader
{
    private static readonly System.Buffers.SearchValues<byte> TextTableStart = System.Buffers.SearchValues.Create("0123456789\t: "u8);

    /// <summary>Largest record accepted (guards the buffer against a corrupt length field).</summary>
    public const int MaxRecordLength = 1 << 30;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly ReceiveBuffer _input;
    private bool _eof;

    /// <summary>Bytes of the current record, consumed when the next one is read (so that
    /// <see cref="Value"/> stays valid until then).</summary>
    private int _current;
    private int _valueStart;
    private int _valueLength;

    public SequenceFileReader(Stream stream, string path, bool ownsStream = false, int bufferSize = 1 << 20)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        Path = path;
        _input = new ReceiveBuffer(Math.Max(bufferSize, 4096));
        Header = ReadHeader();
    }

    public string Path { get; }

    public SequenceFileHeader Header { get; }

    public SequenceKeyEncoding KeyEncoding { get; private set; }

    /// <summary>Key of the current record.</summary>
    public ulong Key { get; private set; }

    /// <summary>Value bytes of the current record (length prefix already stripped for BytesWritable).</summary>
    public ReadOnlySpan<byte> Value => _input.Data.Slice(_valueStart, _valueLength);

    /// <summary>File offset of the current record's length field.</summary>
    public long RecordOffset { get; private set; }

    public long RecordCount { get; private set; }

    public string Location => $"offset {RecordOffset}";

    public static SequenceFileReader Open(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputFormatException.AtOffset(path, 0, $"cannot open: {e.Message}");
        }

        try
        {
            return new SequenceFileReader(stream, path, ownsStream: true);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private long Position => _input.ConsumedTotal;

    /// <summary>The unread bytes, from <see cref="Position"/> on.</summary>
    private ReadOnlySpan<byte> Data => _input.Data;

    public bool MoveNext()
    {
        _input.Consume(_current);
        _current = 0;
        while (true)
        {
            var offset = Position;
            if (!Ensure(4))
            {
                if (_input.Length == 0)
                {
                    return false; // clean end of file at a record boundary
                }

                throw Truncated(offset, 4);
            }

            var recordLength = BinaryPrimitives.ReadInt32BigEndian(Data);
            if (recordLength == -1)
            {
                ReadSyncEscape(offset);
                continue;
            }

            if (recordLength < 0 || recordLength > MaxRecordLength)
            {
                throw InputFormatException.AtOffset(Path, offset, $"record length {recordLength} is out of range (0..{MaxRecordLength})");
            }

            if (!Ensure(8 + recordLength))
            {
                throw Truncated(offset, 8 + recordLength);
            }

            var keyLength = BinaryPrimitives.ReadInt32BigEndian(Data[4..]);
            if (keyLength < 0 || keyLength > recordLength)
            {
                throw InputFormatException.AtOffset(Path, offset + 4, $"key length {keyLength} does not fit the record length {recordLength}");
            }

            var key = Data.Slice(8, keyLength);
            var valueStart = 8 + keyLength;
            var valueLength = recordLength - keyLength;
            if (KeyEncoding == SequenceKeyEncoding.Unknown)
            {
                KeyEncoding = DetectKeyEncoding(key, offset);
            }

            Key = DecodeKey(key, offset);
            if (KeyEncoding == SequenceKeyEncoding.BytesWritable && Header.ValueClass == SequenceFileHeader.BytesWritableClass)
            {
                if (valueLength < 4 || BinaryPrimitives.ReadInt32BigEndian(Data[valueStart..]) != valueLength - 4)
                {
                    throw InputFormatException.AtOffset(Path, offset + 8 + keyLength, "BytesWritable value has no valid 4-byte length prefix");
                }

                valueStart += 4;
                valueLength -= 4;
            }

            _valueStart = valueStart;
            _valueLength = valueLength;
            RecordOffset = offset;
            RecordCount++;
            _current = 8 + recordLength;
            return true;
        }
    }

    public void Dispose()
    {
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }

    private SequenceKeyEncoding DetectKeyEncoding(ReadOnlySpan<byte> key, long recordOffset)
    {
        if (Header.KeyClass == SequenceFileHeader.LongWritableClass)
        {
            return SequenceKeyEncoding.LongWritable;
        }

        if (key.Length == 12 && BinaryPrimitives.ReadInt32BigEndian(key) == 8)
        {
            return SequenceKeyEncoding.BytesWritable;
        }

        return key.Length switch
        {
            8 => SequenceKeyEncoding.RawLittleEndian,
            < 8 => throw InputFormatException.AtOffset(Path, recordOffset + 8, $"key is {key.Length} bytes; a key must be 8 bytes (a little-endian uint64)"),
            _ => throw InputFormatException.AtOffset(Path, recordOffset + 8, $"key is {key.Length} bytes; expected 8 (raw uint64) or 12 (BytesWritable-framed uint64)"),
        };
    }

    private ulong DecodeKey(ReadOnlySpan<byte> key, long recordOffset)
    {
        switch (KeyEncoding)
        {
            case SequenceKeyEncoding.RawLittleEndian when key.Length == 8:
                return BinaryPrimitives.ReadUInt64LittleEndian(key);
            case SequenceKeyEncoding.LongWritable when key.Length == 8:
                return BinaryPrimitives.ReadUInt64BigEndian(key);
            case SequenceKeyEncoding.BytesWritable when key.Length == 12 && BinaryPrimitives.ReadInt32BigEndian(key) == 8:
                return BinaryPrimitives.ReadUInt64LittleEndian(key[4..]);
            default:
                var hint = key.Length < 8 ? "; a key must be 8 bytes (a little-endian uint64)" : string.Empty;
                throw InputFormatException.AtOffset(Path, recordOffset + 8, $"key is {key.Length} bytes but earlier records of this file use {KeyEncoding} keys{hint}");
        }
    }

    private void ReadSyncEscape(long offset)
    {
        if (!Ensure(4 + SequenceFileHeader.SyncSize))
        {
            throw Truncated(offset, 4 + SequenceFileHeader.SyncSize);
        }

        if (!Data.Slice(4, SequenceFileHeader.SyncSize).SequenceEqual(Header.Sync))
        {
            throw InputFormatException.AtOffset(Path, offset + 4, "sync marker does not match the header's");
        }

        _input.Consume(4 + SequenceFileHeader.SyncSize);
    }

    private SequenceFileHeader ReadHeader()
    {
        if (!Ensure(4))
        {
            throw InputFormatException.AtOffset(Path, 0, _input.Length == 0 ? "empty file, not a SequenceFile" : "truncated header");
        }

        if (Data[0] != (byte)'S' || Data[1] != (byte)'E' || Data[2] != (byte)'Q')
        {
            // Digits, a tab or a colon first: a text table (key<TAB>floats or key:value) given as a SequenceFile.
            var text = Data.Length >= 3 && Data[..3].IndexOfAnyExcept(TextTableStart) < 0;
            throw InputFormatException.AtOffset(Path, 0, $"bad magic {Convert.ToHexStringLower(Data[..3])}, expected 'SEQ' (534551): not a SequenceFile{(text ? "; it looks like a text table: build it with --input-format text" : string.Empty)}");
        }

        var version = Data[3];
        if (version != 6)
        {
            throw InputFormatException.AtOffset(Path, 3, $"SequenceFile version {version} is not supported (expected 6)");
        }

        _input.Consume(4);
        var keyClass = ReadHeaderString("key class name");
        var valueClass = ReadHeaderString("value class name");
        var flagsOffset = Position;
        if (!Ensure(2 + 4))
        {
            throw Truncated(flagsOffset, 6);
        }

        if (Data[0] != 0)
        {
            throw InputFormatException.AtOffset(Path, flagsOffset, "compressed SequenceFile (is_compressed = 1) is not supported; write it uncompressed");
        }

        if (Data[1] != 0)
        {
            throw InputFormatException.AtOffset(Path, flagsOffset + 1, "block-compressed SequenceFile is not supported; write it uncompressed");
        }

        var metadataCount = BinaryPrimitives.ReadInt32BigEndian(Data[2..]);
        if (metadataCount is < 0 or > 1 << 16)
        {
            throw InputFormatException.AtOffset(Path, flagsOffset + 2, $"metadata count {metadataCount} is out of range");
        }

        _input.Consume(6);
        for (var i = 0; i < metadataCount * 2; i++)
        {
            ReadHeaderString("metadata entry");
        }

        var syncOffset = Position;
        if (!Ensure(SequenceFileHeader.SyncSize))
        {
            throw Truncated(syncOffset, SequenceFileHeader.SyncSize);
        }

        var sync = Data[..SequenceFileHeader.SyncSize].ToArray();
        _input.Consume(SequenceFileHeader.SyncSize);
        return new SequenceFileHeader(version, keyClass, valueClass, metadataCount, sync, Position);
    }

    private string ReadHeaderString(string what)
    {
        var offset = Position;
        if (!Ensure(1))
        {
            throw Truncated(offset, 1);
        }

        var size = HadoopVInt.DecodedSize((sbyte)Data[0]);
        if (!Ensure(size))
        {
            throw Truncated(offset, size);
        }

        var length = HadoopVInt.Decode(Data[..size]);
        if (length is < 0 or > 1 << 16)
        {
            throw InputFormatException.AtOffset(Path, offset, $"{what} length {length} is out of range");
        }

        if (!Ensure(size + (int)length))
        {
            throw Truncated(offset, size + (int)length);
        }

        var text = Encoding.UTF8.GetString(Data.Slice(size, (int)length));
        _input.Consume(size + (int)length);
        return text;
    }

    private InputFormatException Truncated(long offset, int wanted) =>
        InputFormatException.AtOffset(Path, offset, $"truncated: {wanted} bytes expected, the file ends after {_input.Length}");

    /// <summary>Makes at least <paramref name="count"/> unread bytes available;
    /// false if the stream ends first.</summary>
    private bool Ensure(int count)
    {
        if (_input.Length >= count)
        {
            return true;
        }

        // A length field the file cannot back is a truncation, found before room is made for it
        // (a corrupt length used to allocate up to 1 GiB first).
        if (_stream.CanSeek && count - _input.Length > _stream.Length - _stream.Position)
        {
            return false;
        }

        _input.Compact(count);
        while (_input.Length < count && !_eof)
        {
            var read = _stream.Read(_input.FreeSpan);
            if (read == 0)
            {
                _eof = true;
                break;
            }

            _input.Commit(read);
        }

        return _input.Length >= count;
    }
}
