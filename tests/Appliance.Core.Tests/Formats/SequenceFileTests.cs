using System.Buffers.Binary;
using System.Text;
using Appliance.Core.Formats;

namespace Appliance.Core.Tests.Formats;

public sealed class SequenceFileTests
{
    private static readonly byte[] Sync = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");

    /// <summary>
    /// What kvtool.py's SequenceFileWriter writes for records (1, "abc") and (0x0102030405060708, "")
    /// with the sync bytes 00..0f, spelled out byte by byte.
    /// </summary>
    private static readonly string GoldenHex = string.Concat(
        "53455106",                                                              // "SEQ" 6
        "22", Convert.ToHexStringLower("org.apache.hadoop.io.BytesWritable"u8), // key class
        "22", Convert.ToHexStringLower("org.apache.hadoop.io.BytesWritable"u8), // value class
        "00", "00", "00000000",                                                  // compressed, block, metadata count
        "000102030405060708090a0b0c0d0e0f",                                      // sync
        "0000000b", "00000008", "0100000000000000", "616263",                    // record (1, "abc")
        "00000008", "00000008", "0807060504030201");                             // record (0x0102030405060708, "")

    [Fact]
    public void WriterProducesKvtoolBytes()
    {
        using var stream = new MemoryStream();
        using (var writer = new SequenceFileWriter(stream, Sync))
        {
            writer.Write(1, "abc"u8);
            writer.Write(0x0102030405060708, []);
        }

        Assert.Equal(GoldenHex, Convert.ToHexStringLower(stream.ToArray()));
        Assert.Equal(96, 80 + 16); // header + sync as documented: the first record starts at offset 96
    }

    [Fact]
    public void ReaderParsesGoldenBytesAtEverySplit()
    {
        var bytes = Convert.FromHexString(GoldenHex);
        foreach (var chunk in new[] { 1, 2, 3, 7, 64, bytes.Length })
        {
            using var reader = new SequenceFileReader(new OneByteStream(bytes, chunk), "golden.seq", bufferSize: 16);
            Assert.Equal(SequenceFileHeader.BytesWritableClass, reader.Header.KeyClass);
            Assert.Equal(Sync, reader.Header.Sync);
            Assert.Equal(96, reader.Header.FirstRecordOffset);
            Assert.True(reader.MoveNext());
            Assert.Equal(1UL, reader.Key);
            Assert.Equal("abc", Encoding.ASCII.GetString(reader.Value));
            Assert.Equal(96, reader.RecordOffset);
            Assert.True(reader.MoveNext());
            Assert.Equal(0x0102030405060708UL, reader.Key);
            Assert.Equal(0, reader.Value.Length);
            Assert.False(reader.MoveNext());
            Assert.Equal(SequenceKeyEncoding.RawLittleEndian, reader.KeyEncoding);
        }
    }

    [Fact]
    public void SyncEscapesAreWrittenEvery2000BytesAndSkippedOnRead()
    {
        using var stream = new MemoryStream();
        var value = new byte[100];
        using (var writer = new SequenceFileWriter(stream, Sync))
        {
            for (ulong k = 0; k < 100; k++)
            {
                value[0] = (byte)k;
                writer.Write(k, value);
            }
        }

        var bytes = stream.ToArray();
        // 100 records × 108 bytes of key+value → a sync after every 19th record: 5 escapes of 20 bytes.
        Assert.Equal(96 + (100 * (8 + 108)) + (5 * 20), bytes.Length);
        using var reader = new SequenceFileReader(new OneByteStream(bytes, 13), "sync.seq");
        ulong expected = 0;
        while (reader.MoveNext())
        {
            Assert.Equal(expected, reader.Key);
            Assert.Equal((byte)expected, reader.Value[0]);
            expected++;
        }

        Assert.Equal(100UL, expected);
    }

    [Fact]
    public void HadoopBytesWritableFramingIsDetectedAndStripped()
    {
        using var stream = new MemoryStream();
        using (var writer = new SequenceFileWriter(stream, Sync, bytesWritableFraming: true))
        {
            writer.Write(42, "value-42"u8);
            writer.Write(7, [1, 2, 3, 4]);
        }

        var bytes = stream.ToArray();
        Assert.Equal("0000000c", Convert.ToHexStringLower(bytes, 100, 4)); // key_len 12: BE 8 + the 8 key bytes
        using var reader = new SequenceFileReader(new MemoryStream(bytes), "hadoop.seq");
        Assert.True(reader.MoveNext());
        Assert.Equal(SequenceKeyEncoding.BytesWritable, reader.KeyEncoding);
        Assert.Equal(42UL, reader.Key);
        Assert.Equal("value-42", Encoding.ASCII.GetString(reader.Value));
        Assert.True(reader.MoveNext());
        Assert.Equal(7UL, reader.Key);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, reader.Value.ToArray());
    }

    [Fact]
    public void LongWritableKeysAreBigEndian()
    {
        var header = Convert.FromHexString(GoldenHex)[..96].ToList();
        var longClass = Encoding.ASCII.GetBytes(SequenceFileHeader.LongWritableClass);
        var bytes = new List<byte>(Encoding.ASCII.GetBytes("SEQ")) { 6, (byte)longClass.Length };
        bytes.AddRange(longClass);
        bytes.AddRange(header.Skip(39)); // value class, flags, metadata, sync
        bytes.AddRange(Convert.FromHexString("00000009" + "00000008" + "0000000000000102" + "ff"));
        using var reader = new SequenceFileReader(new MemoryStream(bytes.ToArray()), "long.seq");
        Assert.True(reader.MoveNext());
        Assert.Equal(SequenceKeyEncoding.LongWritable, reader.KeyEncoding);
        Assert.Equal(0x102UL, reader.Key);
    }

    public static TheoryData<string, string, string> Malformed => new()
    {
        // name, bytes (hex) to parse, expected text in the error ("offset N: reason")
        { "empty file", string.Empty, "offset 0: empty file" },
        { "bad magic", "53455806" + GoldenHex[8..], "offset 0: bad magic" },
        { "version 5", "53455105" + GoldenHex[8..], "offset 3: SequenceFile version 5" },
        { "compressed", GoldenHex[..(74 * 2)] + "01" + GoldenHex[(75 * 2)..], "offset 74: compressed SequenceFile" },
        { "block compressed", GoldenHex[..(75 * 2)] + "01" + GoldenHex[(76 * 2)..], "offset 75: block-compressed" },
        { "truncated header", GoldenHex[..(50 * 2)], "offset 39: truncated" },
        { "truncated sync", GoldenHex[..(90 * 2)], "offset 80: truncated" },
        { "truncated record length", GoldenHex[..(98 * 2)], "offset 96: truncated" },
        { "truncated record body", GoldenHex[..(110 * 2)], "offset 96: truncated: 19 bytes expected" },
        { "key shorter than 8 bytes", GoldenHex[..(96 * 2)] + "00000007" + "00000004" + "01000000" + "616263", "offset 104: key is 4 bytes; a key must be 8 bytes" },
        { "key of 9 bytes", GoldenHex[..(96 * 2)] + "00000009" + "00000009" + "010000000000000000", "offset 104: key is 9 bytes" },
        { "key length larger than record", GoldenHex[..(96 * 2)] + "00000004" + "00000008" + "01000000", "offset 100: key length 8 does not fit" },
        { "negative record length", GoldenHex[..(96 * 2)] + "fffffffe", "offset 96: record length -2" },
        { "wrong sync", GoldenHex[..(96 * 2)] + "ffffffff" + "000102030405060708090a0b0c0d0eff", "offset 100: sync marker does not match" },
        { "key size changes", GoldenHex + "0000000c" + "0000000c" + "000000080100000000000000", "offset 139: key is 12 bytes but earlier records" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedInputNamesFileAndOffset(string name, string hex, string expected)
    {
        var bytes = Convert.FromHexString(hex);
        var error = Assert.Throws<InputFormatException>(() =>
        {
            using var reader = new SequenceFileReader(new OneByteStream(bytes, 5), "bad.seq");
            while (reader.MoveNext())
            {
            }
        });
        Assert.StartsWith("bad.seq: ", error.Message);
        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{name}: '{error.Message}' lacks '{expected}'");
    }

    [Fact]
    public void UnreadableFileIsNamed()
    {
        var error = Assert.Throws<InputFormatException>(() => SequenceFileReader.Open("/nonexistent/dir/part-00000"));
        Assert.Contains("/nonexistent/dir/part-00000: offset 0: cannot open", error.Message);
    }

    [Fact]
    public void RoundTripsRandomRecords()
    {
        var random = new Random(5);
        var records = Enumerable.Range(0, 5000).Select(_ =>
        {
            var v = new byte[random.Next(0, 300)];
            random.NextBytes(v);
            return ((ulong)random.NextInt64() * 3, v);
        }).ToList();
        using var stream = new MemoryStream();
        using (var writer = new SequenceFileWriter(stream, Sync))
        {
            foreach (var (k, v) in records)
            {
                writer.Write(k, v);
            }
        }

        using var reader = new SequenceFileReader(new MemoryStream(stream.ToArray()), "r.seq", bufferSize: 4096);
        foreach (var (k, v) in records)
        {
            Assert.True(reader.MoveNext());
            Assert.Equal(k, reader.Key);
            Assert.True(v.AsSpan().SequenceEqual(reader.Value));
        }

        Assert.False(reader.MoveNext());
        Assert.Equal(0x53455106u, BinaryPrimitives.ReadUInt32BigEndian(stream.ToArray().AsSpan(0)));
    }
}
