using Appliance.Core.Buffers;

namespace Appliance.Core.Tests.Buffers;

public sealed class ReceiveBufferTests
{
    [Fact]
    public void ConsumedBytesLeaveAndTheTailMovesToTheFront()
    {
        var buffer = new ReceiveBuffer(8);
        "abcdef"u8.CopyTo(buffer.FreeSpan);
        buffer.Commit(6);
        buffer.Consume(4);
        Assert.Equal("ef"u8.ToArray(), buffer.Data.ToArray());
        buffer.Compact();
        Assert.Equal(6, buffer.FreeSpan.Length);
        Assert.Equal("ef"u8.ToArray(), buffer.Data.ToArray());
        Assert.Equal(4, buffer.ConsumedTotal);
    }

    [Fact]
    public void GrowsOnlyForAMessageThatCannotFit()
    {
        var buffer = new ReceiveBuffer(8);
        buffer.Commit(3);
        buffer.Compact(needed: 8);
        Assert.Equal(8, buffer.Capacity);
        buffer.Compact(needed: 20);
        Assert.Equal(20, buffer.Capacity);
        Assert.Equal(3, buffer.Length);
    }

    [Fact]
    public void AFullBufferDoublesSoALongStreamKeepsReading()
    {
        var buffer = new ReceiveBuffer(4);
        buffer.Commit(4);
        buffer.Compact();
        Assert.Equal(8, buffer.Capacity);
        Assert.Equal(4, buffer.FreeSpan.Length);
    }

    [Fact]
    public void ConsumingEverythingResetsToTheStart()
    {
        var buffer = new ReceiveBuffer(8);
        buffer.Commit(5);
        buffer.Consume(5);
        Assert.Equal(8, buffer.FreeSpan.Length);
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void CommitAndConsumeBeyondTheDataAreRefused()
    {
        var buffer = new ReceiveBuffer(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Commit(5));
        buffer.Commit(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Consume(3));
    }
}
