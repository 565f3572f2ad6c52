using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>One stored row → dim floats with the codec the table was built with (its manifest;
/// raw rows are float32), checking the row has exactly the model's dimension.</summary>
internal static class EmbeddingDecoder
{
    public static void Decode(ulong key, ReadOnlySpan<byte> value, ValueCodec codec, Span<float> destination)
    {
        var dimension = ValueCodecs.DecodedDimension(codec, value.Length);
        if (dimension != destination.Length)
        {
            throw new TableMismatchException($"key {key}: the table holds {dimension} floats per row ({value.Length} bytes, {ValueCodecs.Name(codec)}); the model expects embedding_dim {destination.Length}");
        }

        ValueCodecs.Decode(codec, value, destination);
    }
}
