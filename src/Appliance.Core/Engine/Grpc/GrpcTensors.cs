using System.Buffers.Binary;
using Appliance.Core.Engine.Grpc.V2;
using Appliance.Core.Engine.Oip;
using Google.Protobuf;

namespace Appliance.Core.Engine.Grpc;

/// <summary>
/// A gRPC infer request's tensors as the REST endpoint's (<see cref="OipTensor"/>), so both are
/// turned into samples by one function (<see cref="OipEndpoints.Samples"/>); and the answer as a
/// <see cref="ModelInferResponse"/>. Elements come either in each input's typed <c>contents</c> or,
/// one entry per input in input order, in <c>raw_input_contents</c> (FP32/INT64/UINT64
/// little-endian; BYTES as a 4-byte little-endian length before each element, as Triton writes
/// them). A request that used raw inputs gets <c>raw_output_contents</c> back, else
/// <c>contents</c>. Every defect is an <see cref="OipException"/> naming the input.
/// </summary>
internal static class GrpcTensors
{
    public static List<OipTensor> Inputs(ModelInferRequest request)
    {
        if (request.Inputs.Count == 0)
        {
            throw new OipException("inputs must not be empty");
        }

        var raw = request.RawInputContents.Count > 0;
        if (raw && request.RawInputContents.Count != request.Inputs.Count)
        {
            throw new OipException($"raw_input_contents has {request.RawInputContents.Count} entries for {request.Inputs.Count} inputs (one per input, in input order)");
        }

        var tensors = new List<OipTensor>(request.Inputs.Count);
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            var input = request.Inputs[i];
            var shape = input.Shape.ToArray();
            var count = OipTensor.ElementCount(input.Name, shape);
            if (!raw)
            {
                tensors.Add(FromContents(input, shape, count));
                continue;
            }

            if (input.Contents is not null)
            {
                throw new OipException($"input {input.Name}: has contents while the request gives raw_input_contents (one form for every input)");
            }

            tensors.Add(OipTensor.FromBinary(input.Name, input.Datatype, shape, count, request.RawInputContents[i].Span));
        }

        return tensors;
    }

    private static OipTensor FromContents(ModelInferRequest.Types.InferInputTensor input, long[] shape, int count)
    {
        var name = input.Name;
        var contents = input.Contents ?? throw new OipException($"input {name}: no contents (and the request has no raw_input_contents)");
        return input.Datatype switch
        {
            "BYTES" => new OipTensor { Name = name, Datatype = "BYTES", Shape = shape, Strings = [.. Counted(name, shape, count, contents.BytesContents).Select((b, i) => OipTensor.Utf8(name, i, b.Span))] },
            "FP32" => new OipTensor { Name = name, Datatype = "FP32", Shape = shape, Floats = [.. Counted(name, shape, count, contents.Fp32Contents)] },
            "INT64" => new OipTensor { Name = name, Datatype = "INT64", Shape = shape, Integers = [.. Counted(name, shape, count, contents.Int64Contents).Select(v => unchecked((ulong)v))] },
            "UINT64" => new OipTensor { Name = name, Datatype = "UINT64", Shape = shape, Integers = [.. Counted(name, shape, count, contents.Uint64Contents)] },
            _ => throw new OipException($"input {name}: datatype {input.Datatype} is not taken (BYTES, FP32, INT64, UINT64)"),
        };
    }

    /// <summary>The contents of the datatype, refused unless there are as many as the shape says.</summary>
    private static IReadOnlyList<T> Counted<T>(string name, long[] shape, int count, IReadOnlyList<T> values) =>
        values.Count == count ? values : throw new OipException($"input {name}: shape [{string.Join(",", shape)}] needs {count} value(s), contents has {values.Count}");

    public static ModelInferResponse Response(ModelInferRequest request, string model, PredictResponse answer, string output)
    {
        var n = answer.Scores.Count;
        var response = new ModelInferResponse { ModelName = model, ModelVersion = answer.ModelVersion, Id = request.Id };
        response.Parameters.Add("missing_keys", new InferParameter { Int64Param = answer.MissingKeys });
        response.Parameters.Add("unavailable_keys", new InferParameter { Int64Param = answer.UnavailableKeys });
        var tensor = new ModelInferResponse.Types.InferOutputTensor { Name = output, Datatype = "FP32", Shape = { n, 1 } };
        if (request.RawInputContents.Count > 0)
        {
            var bytes = new byte[n * 4];
            for (var i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), answer.Scores[i]!.Value);
            }

            response.RawOutputContents.Add(UnsafeByteOperations.UnsafeWrap(bytes));
        }
        else
        {
            tensor.Contents = new InferTensorContents();
            tensor.Contents.Fp32Contents.AddRange(answer.Scores.Select(s => s!.Value));
        }

        response.Outputs.Add(tensor);
        return response;
    }
}
