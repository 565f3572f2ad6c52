using System.Text;
using System.Text.Json;
using Appliance.Core.Engine;

namespace Appliance.Core.Tests.Engine;

/// <summary>The /predict body's samples are counted before they are made,
/// and the count stops one past the cap. The one-pass reader of the common shape
/// (<see cref="LinesReader"/>) takes what it should, gives what System.Text.Json gives, and leaves
/// everything else to it.</summary>
public sealed class PredictBodyTests
{
    [Theory]
    [InlineData("{}", 0)]
    [InlineData("{\"lines\": []}", 0)]
    [InlineData("{\"lines\": [\"a\", \"\", \"c\"]}", 3)]
    [InlineData("{\"samples\": [{\"dense\": [1, 2], \"sparse\": [\"x\"]}, {}]}", 2)]
    [InlineData("{\"lines\": [\"a\"], \"samples\": [{\"sparse\": [\"lines\", \"samples\"]}], \"variant\": \"m\"}", 2)]
    [InlineData("{\"variant\": \"lines\", \"lines\": [null, 1, true]}", 3)] // wrong element types are counted; deserialization refuses them
    [InlineData("{\"other\": {\"lines\": [1, 2, 3]}}", 0)] // only the top-level arrays
    [InlineData("{\"lines\": {\"a\": 1, \"b\": [2]}}", 0)] // not an array: nothing counted
    public void CountsTheElementsOfLinesAndSamples(string json, int expected) =>
        Assert.Equal(expected, PredictBody.CountSamples(Encoding.UTF8.GetBytes(json), stopAfter: 100));

    [Fact]
    public void TheCountStopsOnePastTheCapWithoutReadingTheRest()
    {
        // The rest of the body is not even valid JSON: the scan never gets there.
        var json = Encoding.UTF8.GetBytes("{\"lines\": [" + string.Join(",", Enumerable.Repeat("\"\"", 20)) + ", this is not json");
        Assert.Equal(11, PredictBody.CountSamples(json, stopAfter: 10));
        var e = Assert.Throws<ArgumentException>(() => PredictBody.Read(json, maxSamples: 10));
        Assert.Equal("more than 10 samples; at most 10 per request (--max-samples)", e.Message);
    }

    [Fact]
    public void ABodyWithinTheCapIsDeserialized()
    {
        using var request = PredictBody.Read("{\"lines\": [\"1\\t2\"], \"samples\": [{\"dense\": [1, null], \"sparse\": [\"a\"]}], \"variant\": \"m\"}"u8, maxSamples: 2);
        Assert.Equal(["1\t2", "1\t\ta"], request.Lines()); // lines first, then the samples as lines
        Assert.Equal("m", request.Variant);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"lines\": [\"a\"")]
    [InlineData("{\"lines\": [1]}")]
    [InlineData("{\"unknown\": 1}")]
    public void AMalformedBodyIsAJsonError(string json) =>
        Assert.ThrowsAny<JsonException>(() => PredictBody.Read(Encoding.UTF8.GetBytes(json), maxSamples: 10));

    [Theory]
    [InlineData("{\"lines\": []}")]
    [InlineData("{\"lines\":[\"a\"]}")]
    [InlineData(" {\r\n \"lines\" :\t[ \"1\\t2\\t\\t\" , \"\" ] , \"variant\" : \"m\" }\n")]
    [InlineData("{\"variant\": null, \"lines\": [\"q\\\"uote \\\\ slash\\/ \\b\\f\\n\\r\"]}")]
    [InlineData("{\"variant\": \"b\", \"lines\": [\"x\"]}")]
    [InlineData("{\"lines\": [\"x\"], \"samples\": null, \"variant\": null}")] // as cube predict's serializer writes it
    public void TheCommonShapeIsReadInOnePassAsTheGeneralReaderReadsIt(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        using var fast = LinesReader.TryRead(bytes, maxSamples: 10);
        Assert.NotNull(fast);
        var general = JsonSerializer.Deserialize(bytes, EngineJsonContext.Default.PredictRequest)!;
        Assert.Equal(general.Lines!, fast.Lines());
        Assert.Equal(general.Variant, fast.Variant);
        Assert.Null(general.Samples);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"lines\": null}")]
    [InlineData("{\"lines\": [\"\\u0041\"]}")] // \u escapes: the general reader's
    [InlineData("{\"lines\": [\"caf\u00e9\"]}")] // non-ASCII
    [InlineData("{\"lines\": [\"a\tb\"]}")] // a raw tab in a string: invalid JSON
    [InlineData("{\"lines\": [\"a\",]}")] // trailing comma
    [InlineData("{\"lines\": [\"a\"],}")]
    [InlineData("{\"lines\": [\"a\"]} x")] // trailing content
    [InlineData("{\"lines\": [\"a\"]")] // truncated
    [InlineData("{\"lines\": [\"a]}")]
    [InlineData("{\"lines\": [\"a\\x\"]}")] // an invalid escape
    [InlineData("{\"lines\": [1]}")]
    [InlineData("{\"lines\": [\"a\"], \"lines\": [\"b\"]}")] // a duplicate member
    [InlineData("{\"lines\": [\"a\"], \"samples\": []}")]
    [InlineData("{\"lines\": [\"a\"], \"samples\": null, \"samples\": null}")]
    [InlineData("{\"lines\": [\"a\"], \"other\": 1}")]
    [InlineData("{\"lines\" /* c */: [\"a\"]}")] // comments
    [InlineData("{\"variant\": 1, \"lines\": [\"a\"]}")]
    [InlineData("{\"variant\": \"m\"}")] // no lines
    [InlineData("\uFEFF{\"lines\": [\"a\"]}")] // a byte-order mark
    public void EverythingElseGoesToTheGeneralReader(string json) =>
        Assert.Null(LinesReader.TryRead(Encoding.UTF8.GetBytes(json), maxSamples: 10));

    [Fact]
    public void TheOnePassReaderStopsAtTheCap()
    {
        var json = Encoding.UTF8.GetBytes("{\"lines\": [" + string.Join(",", Enumerable.Repeat("\"a\"", 11)) + "]}");
        Assert.Equal("more than 10 samples; at most 10 per request (--max-samples)", Assert.Throws<ArgumentException>(() => PredictBody.Read(json, maxSamples: 10)).Message);
        using var read = PredictBody.Read(json, maxSamples: 11);
        Assert.Equal(11, read.Samples.Count);
    }

    [Fact]
    public void RealCriteoLinesTakeTheOnePathAndScoreAlike()
    {
        var lines = File.ReadLines(TestData.CriteoSample).Take(300).ToList();
        var json = JsonSerializer.SerializeToUtf8Bytes(new PredictRequest { Lines = lines }, EngineJsonContext.Default.PredictRequest);
        using var read = LinesReader.TryRead(json, maxSamples: 1000);
        Assert.Equal(lines, read!.Lines());
    }

    [Fact]
    public void OnePassLinesAreSlicesOfOneBufferThatEveryLineKeeps()
    {
        using var read = PredictBody.Read("{\"lines\": [\"a\\tb\", \"\", \"c\"], \"variant\": \"v\"}"u8, maxSamples: 10);
        Assert.Equal(["a\tb", "", "c"], read.Lines());
        Assert.Equal("v", read.Variant);
        // Lines sit side by side in one buffer (no string each); the variant is its own string.
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(read.Samples[0].Line, out var first));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(read.Samples[2].Line, out var third));
        Assert.Same(first.Array, third.Array);
        Assert.Equal(first.Offset + 3, third.Offset);
    }

    [Fact]
    public void DisposingTwiceReturnsTheBufferOnce()
    {
        var read = PredictBody.Read("{\"lines\": [\"x\"]}"u8, maxSamples: 10);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(read.Samples[0].Line, out var buffer));
        read.Dispose();
        read.Dispose();
        // Returned twice, the pool would hand the same array to the next two renters (on this thread).
        var first = System.Buffers.ArrayPool<char>.Shared.Rent(buffer.Array!.Length);
        var second = System.Buffers.ArrayPool<char>.Shared.Rent(buffer.Array.Length);
        Assert.NotSame(first, second);
        System.Buffers.ArrayPool<char>.Shared.Return(first);
        System.Buffers.ArrayPool<char>.Shared.Return(second);
    }

    [Fact]
    public void TheGeneralReaderGivesLinesThenSamplesAndANullLineIsThatSamplesError()
    {
        // \u0041 sends the body to the general reader; a null line becomes an empty one, which the
        // engine answers as that sample's error (not the request's).
        using var read = PredictBody.Read("{\"lines\": [\"\\u0041\", null], \"samples\": [{\"dense\": [1], \"sparse\": [\"t\"]}]}"u8, maxSamples: 10);
        Assert.Equal(["A", "", "1\tt"], read.Lines());
        Assert.Null(read.Variant);
    }

    [Fact]
    public void ANullSampleIsRefusedWithItsIndex()
    {
        var e = Assert.Throws<ArgumentException>(() => PredictBody.Read("{\"samples\": [{\"sparse\": []}, null]}"u8, maxSamples: 10));
        Assert.StartsWith("samples[1] is null", e.Message);
    }
}
