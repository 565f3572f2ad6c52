using System.Text;
using System.Text.Json;
using Appliance.Core.Engine;

namespace Appliance.Core.Tests.Engine;

/// <summary>Issue 12 finding 5: the /predict body's samples are counted before they are made,
/// and the count stops one past the cap.</summary>
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
        var request = PredictBody.Read("{\"lines\": [\"1\\t2\"], \"samples\": [{\"dense\": [1, null], \"sparse\": [\"a\"]}], \"variant\": \"m\"}"u8, maxSamples: 2);
        Assert.Equal(["1\t2"], request!.Lines!);
        Assert.Equal("1\t\ta", request.Samples![0].ToLine());
        Assert.Equal("m", request.Variant);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"lines\": [\"a\"")]
    [InlineData("{\"lines\": [1]}")]
    [InlineData("{\"unknown\": 1}")]
    public void AMalformedBodyIsAJsonError(string json) =>
        Assert.ThrowsAny<JsonException>(() => PredictBody.Read(Encoding.UTF8.GetBytes(json), maxSamples: 10));
}
