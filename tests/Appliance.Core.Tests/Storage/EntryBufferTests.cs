using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>The build's record buffer: keys in fixed chunks, values one length-prefixed stream;
/// everything comes back in input order, across chunk and block boundaries, empty and large values included.</summary>
public sealed class EntryBufferTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(EntryBuffer.ChunkSize)]
    [InlineData((2 * EntryBuffer.ChunkSize) + 5)]
    public void KeysAndValuesComeBackInInputOrder(int count)
    {
        var random = new Random(count);
        var buffer = new EntryBuffer();
        var keys = new ulong[count];
        var values = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            keys[i] = (ulong)random.NextInt64();
            // Mostly 40-byte rows; now and then empty, or larger than the first 64 KiB block.
            var length = (i % 997) switch { 3 => 0, 5 => 70_000 + i, _ => 40 };
            values[i] = new byte[length];
            random.NextBytes(values[i]);
            buffer.Add(keys[i], values[i]);
        }

        Assert.Equal(count, buffer.Count);
        Assert.Equal(values.Sum(v => (long)v.Length), buffer.ValueBytes);
        Assert.Equal((count + EntryBuffer.ChunkSize - 1) / EntryBuffer.ChunkSize, buffer.KeyChunks.Count);
        var cursor = buffer.Values();
        var n = 0;
        for (var c = 0; c < buffer.KeyChunks.Count; c++)
        {
            Assert.True(buffer.ChunkCount(c) is > 0 and <= EntryBuffer.ChunkSize);
            for (var i = 0; i < buffer.ChunkCount(c); i++, n++)
            {
                Assert.Equal(keys[n], buffer.KeyChunks[c][i]);
                Assert.True(cursor.Next().SequenceEqual(values[n]), $"value {n}");
            }
        }

        Assert.Equal(count, n);
    }
}
