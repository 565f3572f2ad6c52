using System.Buffers.Binary;

namespace Appliance.Core.Storage;

/// <summary>Encoding and decoding of embedding rows for each <see cref="ValueCodec"/>.</summary>
internal static class ValueCodecs
{
    public const int I8HeaderSize = 8;

    public static string Name(ValueCodec codec) => codec switch
    {
        ValueCodec.Raw => "raw",
        ValueCodec.F32 => "f32",
        ValueCodec.F16 => "f16",
        ValueCodec.I8 => "i8",
        _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "unknown value codec"),
    };

    public static bool TryParse(string? text, out ValueCodec codec)
    {
        switch (text)
        {
            case "raw": codec = ValueCodec.Raw; return true;
            case "f32": codec = ValueCodec.F32; return true;
            case "f16": codec = ValueCodec.F16; return true;
            case "i8": codec = ValueCodec.I8; return true;
            default: codec = ValueCodec.Raw; return false;
        }
    }

    public static bool IsFloat(ValueCodec codec) => codec != ValueCodec.Raw;

    /// <summary>Bytes one encoded row of <paramref name="dimension"/> floats takes.</summary>
    public static int EncodedLength(ValueCodec codec, int dimension) => codec switch
    {
        ValueCodec.F32 => dimension * 4,
        ValueCodec.F16 => dimension * 2,
        ValueCodec.I8 => I8HeaderSize + dimension,
        _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "raw values have no fixed length"),
    };

    /// <summary>Encodes a row given as float32 little-endian bytes.</summary>
    public static void Encode(ValueCodec codec, ReadOnlySpan<byte> float32Row, Span<byte> destination)
    {
        var dimension = float32Row.Length / 4;
        switch (codec)
        {
            case ValueCodec.F32:
                float32Row.CopyTo(destination);
                break;
            case ValueCodec.F16:
                for (var i = 0; i < dimension; i++)
                {
                    var x = BinaryPrimitives.ReadSingleLittleEndian(float32Row[(i * 4)..]);
                    BinaryPrimitives.WriteHalfLittleEndian(destination[(i * 2)..], (Half)x);
                }

                break;
            case ValueCodec.I8:
                EncodeI8(float32Row, dimension, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(codec), codec, "raw values are not encoded");
        }
    }

    /// <summary>Decodes one stored row into floats; <paramref name="destination"/> holds dimension floats.</summary>
    public static void Decode(ValueCodec codec, ReadOnlySpan<byte> encoded, Span<float> destination) =>
        DecodeRange(codec, encoded, 0, destination);

    /// <summary>Bytes of a stored row as float32 little-endian (<see cref="DecodeToFloat32"/>): raw and
    /// f32 rows as stored, the others decoded.</summary>
    public static int Float32Length(ValueCodec codec, int encodedLength) =>
        codec is ValueCodec.Raw or ValueCodec.F32 ? encodedLength : DecodedDimension(codec, encodedLength) * 4;

    /// <summary>The row as the floats it stands for, float32 little-endian, into exactly
    /// <see cref="Float32Length"/> bytes: what a client that knows no codec reads (RESP, baidu_std).
    /// Raw and f32 rows are copied as stored.</summary>
    public static void DecodeToFloat32(ValueCodec codec, ReadOnlySpan<byte> encoded, Span<byte> destination)
    {
        if (codec is ValueCodec.Raw or ValueCodec.F32)
        {
            encoded.CopyTo(destination);
            return;
        }

        var dimension = DecodedDimension(codec, encoded.Length);
        Span<float> chunk = stackalloc float[64];
        for (var start = 0; start < dimension; start += chunk.Length)
        {
            var part = chunk[..Math.Min(chunk.Length, dimension - start)];
            DecodeRange(codec, encoded, start, part);
            for (var i = 0; i < part.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(destination[((start + i) * 4)..], part[i]);
            }
        }
    }

    /// <summary>Floats <paramref name="start"/> .. start + destination.Length of a stored row (a
    /// long row is decoded in chunks).</summary>
    private static void DecodeRange(ValueCodec codec, ReadOnlySpan<byte> encoded, int start, Span<float> destination)
    {
        switch (codec)
        {
            case ValueCodec.Raw:
            case ValueCodec.F32:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(encoded[((start + i) * 4)..]);
                }

                break;
            case ValueCodec.F16:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(encoded[((start + i) * 2)..]);
                }

                break;
            case ValueCodec.I8:
                var min = BinaryPrimitives.ReadSingleLittleEndian(encoded);
                var scale = BinaryPrimitives.ReadSingleLittleEndian(encoded[4..]);
                var q = encoded[(I8HeaderSize + start)..];
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = min + q[i] * scale;
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(codec), codec, "unknown value codec");
        }
    }

    /// <summary>Number of floats a stored row holds.</summary>
    public static int DecodedDimension(ValueCodec codec, int encodedLength) => codec switch
    {
        ValueCodec.Raw or ValueCodec.F32 => encodedLength / 4,
        ValueCodec.F16 => encodedLength / 2,
        ValueCodec.I8 => Math.Max(0, encodedLength - I8HeaderSize),
        _ => 0,
    };

    private static void EncodeI8(ReadOnlySpan<byte> row, int dimension, Span<byte> destination)
    {
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        for (var i = 0; i < dimension; i++)
        {
            var x = BinaryPrimitives.ReadSingleLittleEndian(row[(i * 4)..]);
            min = Math.Min(min, x);
            max = Math.Max(max, x);
        }

        if (dimension == 0)
        {
            min = max = 0;
        }

        var scale = (max - min) / 255f;
        BinaryPrimitives.WriteSingleLittleEndian(destination, min);
        BinaryPrimitives.WriteSingleLittleEndian(destination[4..], scale);
        for (var i = 0; i < dimension; i++)
        {
            var x = BinaryPrimitives.ReadSingleLittleEndian(row[(i * 4)..]);
            var q = scale > 0 ? MathF.Round((x - min) / scale) : 0f;
            destination[I8HeaderSize + i] = (byte)Math.Clamp(q, 0f, 255f);
        }
    }
}
