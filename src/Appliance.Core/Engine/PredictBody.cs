using System.Text.Json;

namespace Appliance.Core.Engine;

/// <summary>
/// The <c>POST /predict</c> body, read with the sample cap applied before anything is allocated
/// per sample: the elements of <c>lines</c> and <c>samples</c> are counted with a
/// <see cref="Utf8JsonReader"/> (no strings made) and the count stops one past the cap, so an
/// 8 MB body of 2.7 million empty lines costs a scan to the 10,001st, not 64 MiB and a third of a
/// second of CPU. Only a body within the cap is deserialized. The common shape — lines only — is
/// read in one pass by <see cref="LinesReader"/>.
/// </summary>
internal static class PredictBody
{
    /// <summary>The body's samples (the caller disposes them once they are answered).</summary>
    /// <exception cref="JsonException">the body is not a predict request (the message says where)</exception>
    /// <exception cref="ArgumentException">more samples than <paramref name="maxSamples"/>, or a null sample</exception>
    public static PredictInput Read(ReadOnlySpan<byte> json, int maxSamples)
    {
        if (LinesReader.TryRead(json, maxSamples) is { } lines)
        {
            return lines;
        }

        var request = Deserialize(json, maxSamples);
        var samples = new List<EngineSample>();
        foreach (var line in request?.Lines ?? [])
        {
            samples.Add(EngineSample.FromLine(line ?? string.Empty)); // null: that sample's error, as an empty line
        }

        var structured = request?.Samples ?? [];
        for (var i = 0; i < structured.Count; i++)
        {
            // A malformed body, not a bad sample: refused whole, the index named.
            var sample = structured[i] ?? throw new ArgumentException($"samples[{i}] is null; a sample is {{\"dense\": [13 numbers or null], \"sparse\": [26 tokens]}}");
            samples.Add(EngineSample.FromLine(sample.ToLine()));
        }

        return new PredictInput(samples, request?.Variant, pooled: null);
    }

    /// <summary>The general reader: any body System.Text.Json takes as a request, counted first.</summary>
    /// <exception cref="JsonException">the body is not a predict request (the message says where)</exception>
    /// <exception cref="ArgumentException">more samples than <paramref name="maxSamples"/></exception>
    private static PredictRequest? Deserialize(ReadOnlySpan<byte> json, int maxSamples)
    {
        // Every counted element takes at least two bytes (a value and a comma or bracket), so a
        // body this short cannot hold more than the cap: no need to count it first.
        if (json.Length + 2L > 2L * maxSamples && CountSamples(json, stopAfter: maxSamples) > maxSamples)
        {
            throw TooMany(maxSamples);
        }

        return JsonSerializer.Deserialize(json, EngineJsonContext.Default.PredictRequest);
    }

    internal static ArgumentException TooMany(int maxSamples) =>
        new($"more than {maxSamples} samples; at most {maxSamples} per request (--max-samples)");

    /// <summary>Elements of the top-level <c>lines</c> and <c>samples</c> arrays together, counted
    /// up to <paramref name="stopAfter"/> + 1.</summary>
    public static int CountSamples(ReadOnlySpan<byte> json, int stopAfter)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        var count = 0;
        var named = false; // the last top-level property is lines or samples
        var inArray = false; // inside its array value
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName when reader.CurrentDepth == 1:
                    named = reader.ValueSpan.SequenceEqual("lines"u8) || reader.ValueSpan.SequenceEqual("samples"u8);
                    break;
                case JsonTokenType.StartArray when named && reader.CurrentDepth == 1:
                    inArray = true;
                    break;
                case JsonTokenType.EndArray when reader.CurrentDepth == 1:
                    inArray = false;
                    break;
                case JsonTokenType.StartArray or JsonTokenType.StartObject when inArray && reader.CurrentDepth == 2:
                    count++;
                    reader.Skip(); // one element, however deep
                    break;
                case JsonTokenType.String or JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null when inArray && reader.CurrentDepth == 2:
                    count++;
                    break;
            }

            if (count > stopAfter)
            {
                break;
            }
        }

        return count;
    }
}
