using System.Buffers.Binary;
using Appliance.Core.Client;
using Appliance.Core.Protocol;
using Appliance.Core.Serving;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Protocol;

/// <summary>
/// A server with no live version (still loading its table, or an agent before its first delivery)
/// must say so, never answer "missing": the key may well be in the table it has not loaded.
/// Before the fix all three answered every key as missing, with success.
/// </summary>
public sealed class NotReadyTests
{
    [Fact]
    public void TheNativeProtocolAnswersNotReady()
    {
        using var store = new ShardStore(inMemory: false);
        var service = new ShardService("emb", 3, store);
        var request = new FrameBuffer();
        LookupCodec.WriteRequest(request, 42, "emb", [1, 2, 3]);
        var payload = request.WrittenSpan[FrameHeader.Size..].ToArray();
        var output = new FrameBuffer();
        service.Handle(new FrameHeader(Opcode.Lookup, FrameFlags.None, 42, payload.Length), payload, output);

        var reply = output.WrittenSpan;
        var flags = (FrameFlags)BinaryPrimitives.ReadUInt16LittleEndian(reply[4..]);
        Assert.True((flags & FrameFlags.Error) != 0, $"flags {flags}");
        Assert.Equal(42u, BinaryPrimitives.ReadUInt32LittleEndian(reply[8..]));
        var (code, message) = ErrorPayload.Read(reply[FrameHeader.Size..]);
        Assert.Equal(ErrorCode.NotReady, code);
        Assert.Contains("shard 3", message);
        Assert.Equal(1, service.Stats.Errors);
    }

    [Fact]
    public async Task RespAndHttpLookupsFailEveryKey()
    {
        using var store = new ShardStore(inMemory: false);
        var reader = new ShardDictReader("emb", 0, store);
        using var rows = await reader.LookupAsync("emb", [1, 2, 3], 3);
        Assert.Equal(3, rows.Count);
        Assert.All(Enumerable.Range(0, 3), i =>
        {
            Assert.Equal(KeyStatus.Failed, rows.Status(i));
            Assert.Contains("not ready", rows.Error(i));
        });
    }
}
