using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Appliance.Core.Engine.Oip;

/// <summary>
/// An Open Inference Protocol (KServe v2) infer request, read from its JSON and, with the binary
/// tensor data extension, the bytes after it: the JSON is the first
/// <c>Inference-Header-Content-Length</c> bytes of the body, and each input whose parameters give
/// <c>binary_data_size</c> takes that many bytes, in input order, from what follows (FP32 and INT64
/// little-endian; BYTES as a 4-byte little-endian length before each element). Every defect is an
/// <see cref="OipException"/> naming the input and field (HTTP 400).
/// </summary>
internal sealed class OipRequest
{
    public string? Id { get; private init; }

    public IReadOnlyList<OipTensor> Inputs { get; private init; } = [];

    /// <summary>Outputs the client named (empty: all); each may ask for binary data.</summary>
    public IReadOnlyList<(string Name, bool Binary)> Outputs { get; private init; } = [];

    /// <summary>Request-level <c>binary_data_output</c>: every output as binary data.</summary>
    public bool BinaryOutput { get; private init; }

    public static OipRequest Read(ReadOnlyMemory<byte> json, ReadOnlySpan<byte> binary)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new OipException($"the request is not JSON: {e.Message}");
        }

        using (document)
        {
            try
            {
                return Read(document.RootElement, binary);
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument validates UTF-8 only when a string is read (found by the fuzzer).
                throw new OipException($"the request has a string that is not valid UTF-8: {e.Message}");
            }
        }
    }

    private static OipRequest Read(JsonElement root, ReadOnlySpan<byte> binary)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new OipException("the request must be a JSON object with \"inputs\"");
        }

        var inputs = new List<OipTensor>();
        var offset = 0;
        if (!root.TryGetProperty("inputs", out var inputArray) || inputArray.ValueKind != JsonValueKind.Array || inputArray.GetArrayLength() == 0)
        {
            throw new OipException("\"inputs\" must be a non-empty array");
        }

        foreach (var input in inputArray.EnumerateArray())
        {
            inputs.Add(OipTensor.Read(input, binary, ref offset));
        }

        if (offset != binary.Length)
        {
            throw new OipException($"{binary.Length - offset} byte(s) of binary data after the last input's binary_data_size");
        }

        var outputs = new List<(string, bool)>();
        if (root.TryGetProperty("outputs", out var outputArray) && outputArray.ValueKind == JsonValueKind.Array)
        {
            foreach (var output in outputArray.EnumerateArray())
            {
                var name = output.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : throw new OipException("an output must have a \"name\"");
                outputs.Add((name, Flag(output, "binary_data")));
            }
        }

        return new OipRequest
        {
            Id = root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null,
            Inputs = inputs,
            Outputs = outputs,
            BinaryOutput = Flag(root, "binary_data_output"),
        };
    }

    /// <summary>A boolean in an object's <c>parameters</c>.</summary>
    internal static bool Flag(JsonElement owner, string name) =>
        owner.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
}

/// <summary>One input tensor: name, datatype, shape and its elements as the datatype's array.</summary>
internal sealed class OipTensor
{
    public required string Name { get; init; }

    public required string Datatype { get; init; }

    public required long[] Shape { get; init; }

    public string[]? Strings { get; init; }

    public float[]? Floats { get; init; }

    public ulong[]? Integers { get; init; }

    public int Count => Strings?.Length ?? Floats?.Length ?? Integers!.Length;

    internal static OipTensor Read(JsonElement input, ReadOnlySpan<byte> binary, ref int offset)
    {
        var name = input.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : throw new OipException("an input must have a \"name\"");
        var datatype = input.TryGetProperty("datatype", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : throw new OipException($"input {name}: \"datatype\" is missing");
        if (!input.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
        {
            throw new OipException($"input {name}: \"shape\" is missing");
        }

        var shape = new long[s.GetArrayLength()];
        for (var i = 0; i < shape.Length; i++)
        {
            if (!s[i].TryGetInt64(out shape[i]))
            {
                throw new OipException($"input {name}: shape[{i}] is not a non-negative integer");
            }
        }

        var count = ElementCount(name, shape);
        var parameters = input.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        if (parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("binary_data_size", out var size))
        {
            if (!size.TryGetInt32(out var bytes) || bytes < 0 || bytes > binary.Length - offset)
            {
                throw new OipException($"input {name}: binary_data_size {size} is more than the {binary.Length - offset} binary byte(s) left");
            }

            var slice = binary.Slice(offset, bytes);
            offset += bytes;
            return FromBinary(name, datatype, shape, count, slice);
        }

        if (!input.TryGetProperty("data", out var data))
        {
            throw new OipException($"input {name}: neither \"data\" nor parameters.binary_data_size");
        }

        // Not sized by the claimed shape: a client's number is not memory until its bytes arrived
        // (81 bytes claiming 2^28 elements took 2 GiB). Flatten stops one past the count.
        var flat = new List<JsonElement>();
        Flatten(data, flat, name, count);
        if (flat.Count != count)
        {
            throw new OipException($"input {name}: shape [{string.Join(",", shape)}] needs {count} value(s), \"data\" has {flat.Count}");
        }

        return datatype switch
        {
            "BYTES" => new OipTensor { Name = name, Datatype = datatype, Shape = shape, Strings = [.. flat.Select((e, i) => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad(name, i, "a string"))] },
            "FP32" => new OipTensor { Name = name, Datatype = datatype, Shape = shape, Floats = [.. flat.Select((e, i) => e.ValueKind == JsonValueKind.Null ? float.NaN : e.TryGetSingle(out var f) ? f : throw Bad(name, i, "a number (or null for a missing value)"))] },
            "INT64" => new OipTensor { Name = name, Datatype = datatype, Shape = shape, Integers = [.. flat.Select((e, i) => e.TryGetInt64(out var v) ? unchecked((ulong)v) : throw Bad(name, i, "an INT64"))] },
            "UINT64" => new OipTensor { Name = name, Datatype = datatype, Shape = shape, Integers = [.. flat.Select((e, i) => e.TryGetUInt64(out var v) ? v : throw Bad(name, i, "a UINT64"))] },
            _ => throw new OipException($"input {name}: datatype {datatype} is not taken (BYTES, FP32, INT64, UINT64)"),
        };
    }

    /// <summary>How many elements <paramref name="shape"/> holds; refused when a dimension is
    /// negative or the product over 2^28 (checked before anything is sized by it).</summary>
    internal static int ElementCount(string name, IReadOnlyList<long> shape)
    {
        var elements = 1L;
        for (var i = 0; i < shape.Count; i++)
        {
            if (shape[i] < 0)
            {
                throw new OipException($"input {name}: shape[{i}] is not a non-negative integer");
            }

            elements *= shape[i];
            if (elements > 1L << 28)
            {
                throw new OipException($"input {name}: shape [{string.Join(",", shape)}] is too large");
            }
        }

        return (int)elements;
    }

    /// <summary>An element of a BYTES tensor as text: refused unless valid UTF-8 (the JSON form and
    /// /predict refuse such a line; it must not be scored as U+FFFD).</summary>
    internal static string Utf8(string name, int index, ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new OipException($"input {name}: element {index} is not valid UTF-8");
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static OipException Bad(string name, int index, string what) => new($"input {name}: element {index} is not {what}");

    /// <summary>Row-major elements of a (possibly nested) JSON array, stopping past the expected count.</summary>
    private static void Flatten(JsonElement data, List<JsonElement> flat, string name, int expected)
    {
        if (data.ValueKind != JsonValueKind.Array)
        {
            flat.Add(data);
            return;
        }

        foreach (var element in data.EnumerateArray())
        {
            if (flat.Count > expected)
            {
                return;
            }

            Flatten(element, flat, name, expected);
        }
    }

    /// <summary>A tensor from its raw bytes (the binary extension's, gRPC's raw_input_contents):
    /// FP32, INT64 and UINT64 little-endian; BYTES as a 4-byte little-endian length before each element.</summary>
    internal static OipTensor FromBinary(string name, string datatype, long[] shape, int count, ReadOnlySpan<byte> bytes)
    {
        switch (datatype)
        {
            case "FP32" or "INT64" or "UINT64":
                var width = datatype == "FP32" ? 4 : 8;
                if (bytes.Length != (long)count * width)
                {
                    throw new OipException($"input {name}: {count} {datatype} value(s) take {(long)count * width} bytes, binary_data_size is {bytes.Length}");
                }

                if (datatype == "FP32")
                {
                    var floats = new float[count];
                    for (var i = 0; i < count; i++)
                    {
                        floats[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
                    }

                    return new OipTensor { Name = name, Datatype = datatype, Shape = shape, Floats = floats };
                }

                var integers = new ulong[count];
                for (var i = 0; i < count; i++)
                {
                    integers[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * 8)..]);
                }

                return new OipTensor { Name = name, Datatype = datatype, Shape = shape, Integers = integers };
            case "BYTES":
                // Every element takes at least its 4-byte length: a shape the bytes cannot back is
                // refused before an array is sized by it.
                if (count > bytes.Length / 4)
                {
                    throw new OipException($"input {name}: shape [{string.Join(",", shape)}] needs {count} element(s), binary_data_size {bytes.Length} holds at most {bytes.Length / 4}");
                }

                var strings = new string[count];
                var at = 0;
                for (var i = 0; i < count; i++)
                {
                    if (bytes.Length - at < 4)
                    {
                        throw new OipException($"input {name}: binary data ends before element {i}'s length");
                    }

                    var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[at..]);
                    at += 4;
                    if (length > bytes.Length - at)
                    {
                        throw new OipException($"input {name}: element {i} says {length} bytes, {bytes.Length - at} are left");
                    }

                    strings[i] = Utf8(name, i, bytes.Slice(at, (int)length));
                    at += (int)length;
                }

                if (at != bytes.Length)
                {
                    throw new OipException($"input {name}: {bytes.Length - at} byte(s) after its {count} element(s)");
                }

                return new OipTensor { Name = name, Datatype = datatype, Shape = shape, Strings = strings };
            default:
                throw new OipException($"input {name}: datatype {datatype} is not taken (BYTES, FP32, INT64, UINT64)");
        }
    }
}

/// <summary>A request the protocol or the model cannot take: HTTP 400 with the message (404: no
/// such model or version). <see cref="OverLimit"/>: refused for a limit (more samples than
/// --max-samples), which gRPC answers RESOURCE_EXHAUSTED.</summary>
internal sealed class OipException(string message, int status = 400, bool overLimit = false) : Exception(message)
{
    public int Status { get; } = status;

    public bool OverLimit { get; } = overLimit;
}
