using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Protocol;

/// <summary>Pins the wire format of docs/protocol.md.</summary>
public sealed class FrameTests
{
    [Fact]
    public void WireEnumsKeepTheirNumbers()
    {
        Assert.Equal([1, 2, 3, 4], new[] { Opcode.Ping, Opcode.Lookup, Opcode.Status, Opcode.Predict }.Select(o => (int)o));
        Assert.Equal([1, 2], new[] { FrameFlags.Response, FrameFlags.Error }.Select(f => (int)f));
        Assert.Equal([1, 2, 3, 4, 5, 7, 8], Enum.GetValues<ErrorCode>().Select(c => (int)c)); // 6 is reserved (never sent)
        Assert.Equal((7, 4), ((int)ErrorCode.Internal, (int)ErrorCode.NotReady));
        Assert.Equal(16, FrameHeader.Size);
        Assert.Equal(0xFFFFFFFFu, LookupCodec.MissingEntry);
    }

    [Fact]
    public void LookupRequestGoldenBytes()
    {
        var buffer = new FrameBuffer();
        LookupCodec.WriteRequest(buffer, 0x01020304, "emb", [1, 0x1122334455667788]);
        var expected = string.Concat(
            "4342", "01", "02", "0000", "0000", "04030201", "19000000", // magic, version 1, lookup, flags, reserved, id, payload 25
            "0300", "656d62",                                           // dict "emb"
            "02000000",                                                 // 2 keys
            "0100000000000000", "8877665544332211");
        Assert.Equal(expected, Convert.ToHexStringLower(buffer.WrittenSpan));
    }

    [Fact]
    public unsafe void LookupResponseGoldenBytesAndRoundTrip()
    {
        var values = new byte[] { 0xAA, 0xBB, 0xCC };
        fixed (byte* p = values)
        {
            var buffer = new FrameBuffer();
            var results = new[] { new ValueRef(p, 2), ValueRef.Missing, new ValueRef(p + 2, 1) };
            LookupCodec.WriteResponse(buffer, 7, "10_11"u8, ValueCodec.F16, results);
            var expected = string.Concat(
                "4342", "01", "02", "0100", "0000", "07000000", "1b000000", // response flag, id 7, payload 27
                "0500", "31305f3131",                                       // version "10_11"
                "02",                                                       // codec f16
                "03000000", "02000000", "ffffffff", "01000000",             // 3 entries: 2 bytes, missing, 1 byte
                "aabb", "cc");
            Assert.Equal(expected, Convert.ToHexStringLower(buffer.WrittenSpan));

            var slices = new (int Offset, int Length)[3];
            var (version, codec) = LookupCodec.ReadResponse(buffer.WrittenSpan[FrameHeader.Size..], slices);
            Assert.Equal("10_11", version);
            Assert.Equal(ValueCodec.F16, codec);
            Assert.Equal([(24, 2), (0, -1), (26, 1)], slices);
        }
    }

    [Fact]
    public void ErrorReplyGoldenBytes()
    {
        var buffer = new FrameBuffer();
        buffer.WriteError(Opcode.Lookup, 9, ErrorCode.UnknownDict, "no");
        Assert.Equal("4342" + "01" + "02" + "0300" + "0000" + "09000000" + "06000000" + "0300" + "0200" + "6e6f", Convert.ToHexStringLower(buffer.WrittenSpan));
        Assert.Equal((ErrorCode.UnknownDict, "no"), ErrorPayload.Read(buffer.WrittenSpan[FrameHeader.Size..]));
    }

    [Fact]
    public void ScannerFindsWholeFramesAtEverySplit()
    {
        var buffer = new FrameBuffer();
        LookupCodec.WriteRequest(buffer, 1, "d", [5, 6, 7]);
        LookupCodec.WriteRequest(buffer, 2, "d", [8]);
        var bytes = buffer.WrittenSpan.ToArray();
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            // Feed the first `cut` bytes: frames entirely inside are Done, the rest NeedMoreData.
            var at = 0;
            var ids = new List<uint>();
            while (true)
            {
                var r = FrameScanner.TryScan(bytes.AsSpan(at, cut - at), 1024, out var header, out var error);
                Assert.Null(error);
                if (r != ScanResult.Done)
                {
                    Assert.Equal(ScanResult.NeedMoreData, r);
                    break;
                }

                ids.Add(header.RequestId);
                at += header.FrameLength;
            }

            var expected = cut >= bytes.Length ? 2 : cut >= 16 + 31 ? 1 : 0;
            Assert.Equal(expected, ids.Count);
        }
    }

    public static TheoryData<string, string, string> Invalid => new()
    {
        { "bad magic", "4343" + "01020000" + "0000" + "01000000" + "00000000", "bad magic 0x4343" },
        { "bad first byte", "99", "bad magic" },
        { "version 2", "4342" + "02" + "02" + "00000000" + "01000000" + "00000000", "protocol version 2" },
        { "payload over the limit", "4342" + "01" + "02" + "00000000" + "01000000" + "01040000", "payload length 1025 exceeds the maximum 1024" },
        { "negative length", "4342" + "01" + "02" + "00000000" + "01000000" + "ffffffff", "payload length 4294967295 exceeds" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void ScannerRejectsBeforeThePayloadArrives(string name, string hex, string expected)
    {
        var r = FrameScanner.TryScan(Convert.FromHexString(hex), 1024, out _, out var error);
        Assert.True(r == ScanResult.InvalidData, name);
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData("0100", "payload too short for dict")]
    [InlineData("0100" + "64" + "02000000" + "0100000000000000", "key count 2 does not match the 8 bytes of keys")]
    [InlineData("0100" + "64" + "01000000" + "01000000000000", "key count 1 does not match the 7 bytes of keys")]
    public void MalformedLookupRequestsAreProtocolErrors(string hex, string expected)
    {
        var e = Assert.Throws<ProtocolException>(() => LookupCodec.ReadRequest(Convert.FromHexString(hex), out _, new ulong[16]));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("0000" + "00" + "02000000" + "ffffffff", "response has 2 entries for 1 keys")]
    [InlineData("0000" + "00" + "01000000" + "05000000" + "aabb", "value 0 of 5 bytes runs past the payload")]
    [InlineData("0000" + "00" + "01000000" + "ffffffff" + "aa", "1 unexpected bytes after the values")]
    public void MalformedLookupResponsesAreProtocolErrors(string hex, string expected)
    {
        var e = Assert.Throws<ProtocolException>(() => LookupCodec.ReadResponse(Convert.FromHexString(hex), new (int, int)[1]));
        Assert.Contains(expected, e.Message);
    }
}
