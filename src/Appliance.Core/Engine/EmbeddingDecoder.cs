using Appliance.Core.Storage;

namespace Appliance.Core.Engine;

/// <summary>One stored row → dim floats, checking the row has exactly the model's dimension.</summary>
internal static class EmbeddingDecoder
{
    public static void Decode(ulong key, ReadOnlySpan<byte> value, ValueCodec codec, Span<float> destination)
    {
        var dimension = ValueCodecs.DecodedDimension(codec, value.Length);
        if (dimension != destination.Length)
        {
            throw new InvalidDataException($"key {key}: the table holds {dimension} floats ({value.Length} bytes, {ValueCodecs.Name(codec)}); the model expects embedding_dim {destination.Length}");
        }

        ValueCodecs.Decode(codec, value, destination);
    }
}
