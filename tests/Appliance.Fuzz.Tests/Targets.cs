using System.Text;
using System.Text.Json;
using Appliance.Core.Client;
using Appliance.Core.Control;
using Appliance.Core.Control.Agent;
using Appliance.Core.Control.Transfer;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;
using Appliance.Core.Protocol;
using Appliance.Core.Storage;

namespace Appliance.Fuzz.Tests;

/// <summary>One fuzz target per parser a peer, file or user can feed: its seed corpus (valid
/// inputs made here, so they always match today's formats), the call, and the error types it may
/// throw. Round-trip formats also check write(read(x)) reads back equal.</summary>
public static class Targets
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static Fuzzer Frames() => new("frames", FrameCorpus(), input =>
    {
        var at = 0;
        while (at < input.Length)
        {
            var scan = FrameScanner.TryScan(input.AsSpan(at), 1 << 20, out var header, out _);
            if (scan != ScanResult.Done)
            {
                return;
            }

            var payload = input.AsSpan(at + FrameHeader.Size, header.PayloadLength);
            switch (header.Opcode)
            {
                case Opcode.Lookup:
                    var keys = new ulong[LookupCodec.PeekKeyCount(payload) + 1];
                    LookupCodec.ReadRequest(payload, out _, keys);
                    break;
                case Opcode.Predict:
                    PredictCodec.ReadRequest(payload, maxSamples: 10_000);
                    break;
            }

            at += header.FrameLength;
        }
    }, typeof(ProtocolException));

    public static Fuzzer SequenceFiles() => new("sequencefile", [SequenceFile(false), SequenceFile(true)], input =>
    {
        using var reader = new SequenceFileReader(new MemoryStream(input), "fuzz.seq", ownsStream: true, bufferSize: 4096);
        var records = new List<(ulong, byte[])>();
        while (reader.MoveNext())
        {
            records.Add((reader.Key, reader.Value.ToArray()));
        }

        // Round trip: what was read, written again, reads back equal.
        var copy = new MemoryStream();
        using (var writer = new SequenceFileWriter(copy, new byte[16], ownsStream: false))
        {
            foreach (var (key, value) in records)
            {
                writer.Write(key, value);
            }
        }

        copy.Position = 0;
        using var again = new SequenceFileReader(copy, "copy.seq");
        foreach (var (key, value) in records)
        {
            if (!again.MoveNext() || again.Key != key || !again.Value.SequenceEqual(value))
            {
                throw new InvalidOperationException($"round trip differs at key {key}");
            }
        }
    }, typeof(InputFormatException));

    public static Fuzzer TextTables() => new("textkv", [Utf8("1\t0.5 0.25\n2\t1 2\n"), Utf8("7:abc\n8:de\n"), Utf8("18446744073709551615\t-1e-3\n")], input =>
    {
        var reader = new TextKvReader(new StringReader(Encoding.UTF8.GetString(input)), "fuzz.txt");
        while (reader.MoveNext())
        {
        }
    }, typeof(InputFormatException));

    public static Fuzzer Donefiles() => new("donefile", [Utf8("{\"id\": \"100\", \"key\": \"100\", \"input\": \"/data/100\"}\n{\"id\": \"101\", \"key\": \"100\", \"input\": \"http://h/x\"}\n")], input =>
    {
        var errors = new List<InputFormatException>();
        DonefileReader.Parse(Encoding.UTF8.GetString(input), "base.txt", errors);
    }, typeof(InputFormatException));

    public static Fuzzer CubeConfs() => new("cubeconf", [Utf8("[{\"dict_name\": \"emb\", \"shard\": 2, \"dup\": 1, \"timeout\": 200, \"retry\": 1, \"backup_request\": 0, \"type\": \"ipport_list\", \"load_balancer\": \"rr\", \"nodes\": [{\"ipport_list\": \"list://127.0.0.1:8000\"}, {\"ipport_list\": \"list://127.0.0.1:8001\"}]}]")], input =>
        CubeConfReader.Parse(input, "cube.conf"), typeof(InputFormatException));

    public static Fuzzer TransferConfs() => new("transferconf", [Utf8("[default]\ndict_name: emb\nmode: base_delta\ndonefile_address: /tmp/done\noutput_address: /tmp/out\ntmp_address: /tmp/tmp\nshard_num: 1\ncopy_num: 1\nstorage_place: LOCAL //x\n\n[cube_agent]\nagent0_0: 127.0.0.1:8001\ncube0_0: 127.0.0.1:8000:/tmp/c\n")], input =>
        WithTempFile(input, "transfer.conf", path => TransferConfReader.Read(path)), typeof(InputFormatException));

    public static Fuzzer GflagsFiles() => new("gflags", [Utf8("# server flags\n--port=8000\n-dict=emb\n--in_mem\n\n--logtostderr=true\n")], input =>
        WithTempFile(input, "gflags.conf", path => GflagsFile.Read(path)), typeof(InputFormatException));

    public static Fuzzer CriteoLines() => new("criteo", [.. File.ReadLines(TestData.CriteoSample).Take(20).Select(Utf8)], input =>
    {
        // Differential: the engine's fast paths (integer counts, four tokens hashed side by side)
        // against double.Parse and the per-token hash.
        var text = Encoding.UTF8.GetString(input);
        var sample = CriteoSample.Parse(text);
        var dense = new float[13];
        DenseNormalizer.Criteo.Normalize(sample.Dense, dense);
        var fields = text.TrimEnd('\r', '\n').Split('\t');
        var first = fields.Length == 40 ? 1 : 0;
        for (var k = 0; k < CriteoSample.DenseCount; k++)
        {
            var field = fields[first + k];
            var expected = field.Length == 0 ? (double?)null : double.Parse(field, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);
            if (!Equals(expected.HasValue ? BitConverter.DoubleToInt64Bits(expected.Value) : (long?)null, sample.Dense[k].HasValue ? BitConverter.DoubleToInt64Bits(sample.Dense[k]!.Value) : (long?)null))
            {
                throw new InvalidOperationException($"I{k + 1} '{field}': read {sample.Dense[k]}, double.Parse gives {expected}");
            }
        }

        Span<double?> raw = stackalloc double?[CriteoSample.DenseCount];
        Span<Range> tokens = stackalloc Range[CriteoSample.SparseCount];
        Span<ulong> keys = stackalloc ulong[CriteoSample.SparseCount];
        CriteoSample.Read(text, raw, tokens, out var line);
        foreach (var scheme in new[] { HashScheme.Paddle, HashScheme.Xxh64 })
        {
            FeatureHasher.Keys(scheme, line, tokens, keys);
            for (var slot = 0; slot < sample.Sparse.Count; slot++)
            {
                if (keys[slot] != FeatureHasher.Key(scheme, slot, sample.Sparse[slot]))
                {
                    throw new InvalidOperationException($"{scheme} slot {slot} '{sample.Sparse[slot]}': line-at-a-time key differs from the token's");
                }
            }
        }
    }, typeof(FormatException));

    public static Fuzzer PredictBodies() => new("predictbody", [Utf8("{\"lines\": [\"1\\t2\"], \"samples\": [{\"dense\": [1, null, 3], \"sparse\": [\"a\", \"b\"]}], \"variant\": \"m\"}"), Utf8("{\"lines\": [\"1\\t2\", \"\"], \"samples\": null, \"variant\": null}")], input =>
    {
        // The one-pass reader of the common shape against the general one: whatever it takes, the
        // general reader must take, and read alike; at the cap both refuse.
        PredictInput? fast;
        try
        {
            fast = LinesReader.TryRead(input, maxSamples: 100);
        }
        catch (ArgumentException)
        {
            if (PredictBody.CountSamples(input, stopAfter: 100) <= 100)
            {
                throw new InvalidOperationException("the one-pass reader refused a body within the cap");
            }

            fast = null;
        }

        if (fast is not null)
        {
            using (fast)
            {
                var general = JsonSerializer.Deserialize(input, EngineJsonContext.Default.PredictRequest);
                if (general?.Lines is null || !general.Lines.SequenceEqual(fast.Lines()) || general.Variant != fast.Variant || general.Samples is not null)
                {
                    throw new InvalidOperationException("the one-pass reader read a body otherwise than System.Text.Json");
                }
            }
        }

        using var request = PredictBody.Read(input, maxSamples: 100);
        if (request.Samples.Count > 100)
        {
            throw new InvalidOperationException("the sample count let more than the cap through");
        }
    }, typeof(JsonException), typeof(ArgumentException));

    public static Fuzzer ModelSpecs() => new("modelspec", [Utf8("{\"dict\": \"emb\", \"hash\": \"paddle\", \"sparse_slots\": 26, \"embedding_dim\": 10, \"dense_width\": 13, \"value_codec\": \"f32\", \"table_version\": \"100\"}")], input =>
    {
        var directory = Path.Combine(Path.GetTempPath(), $"fuzz-model-{Environment.CurrentManagedThreadId}");
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "model.json"), input);
        ModelPackage.ReadSpec(directory);
    }, typeof(InputFormatException));

    public static Fuzzer Manifests() => new("manifest", [Utf8("{\"format\": 1, \"dict\": \"emb\", \"shard\": 0, \"shard_count\": 1, \"version\": \"100\", \"base\": \"100\", \"mode\": \"base\", \"codec\": \"raw\", \"dimension\": 0, \"keys\": 1, \"patches\": [], \"index\": {\"file\": \"index.bin\", \"bytes\": 4, \"xxh128\": \"00\"}, \"values\": {\"file\": \"values.bin\", \"bytes\": 4, \"xxh128\": \"00\"}}")], input =>
        JsonSerializer.Deserialize(input, StorageJsonContext.Default.ShardManifest), typeof(JsonException));

    private static readonly Func<Fuzzer>[] Factories =
        [Frames, SessionTarget.Sessions, SessionTarget.Resp, SessionTarget.BaiduStd, MgetReplies, SequenceFiles, TextTables, Donefiles, CubeConfs, TransferConfs, GflagsFiles, CriteoLines, PredictBodies, ModelSpecs, Manifests, AgentCommands, OperatorBodies, OipRequests, GrpcInferRequests];

    /// <summary>The load generator's MGET reply framing (replies from whatever server it is
    /// pointed at): replies back to back until one is incomplete or invalid; a framed reply lies
    /// within the input and counts no more elements than the keys asked for.</summary>
    public static Fuzzer MgetReplies() => new("mgetreply",
        [Utf8("*2\r\n$-1\r\n$3\r\nabc\r\n*1\r\n_\r\n"), Utf8("-ERR unknown command 'MGET'\r\n*0\r\n"), Utf8("*3\r\n$0\r\n\r\n$2\r\n\r\n\r\n_\r\n")], input =>
    {
        var at = 0;
        while (at < input.Length)
        {
            var scan = Appliance.Core.Resp.MgetReplyScanner.TryScan(input.AsSpan(at), 64, 3, out var length, out var found, out var missing, out var error);
            if (scan != ScanResult.Done)
            {
                return;
            }

            if (length <= 0 || length > input.Length - at || found < 0 || missing < 0 || found + missing > 3 || (error is not null && found + missing != 0))
            {
                throw new InvalidOperationException($"offset {at}: a framed reply of {length} bytes, {found} found, {missing} missing, error {error}");
            }

            at += length;
        }
    });

    /// <summary>The agent's /stage, /activate and /retire body: parsed, then validated as the agent does.</summary>
    public static Fuzzer AgentCommands() => new("agentcommand", [Utf8("{\"version\": \"101\", \"base\": \"100\", \"mode\": \"delta\"}"), Utf8("{\"version\": \"100\", \"base\": \"100\", \"mode\": \"base\"}")], input =>
    {
        if (JsonSerializer.Deserialize(input, ControlJsonContext.Default.VersionCommand) is { } command)
        {
            AgentRole.Invalid(command, needMode: true);
            AgentRole.Invalid(command, needMode: false);
        }
    }, typeof(JsonException));

    /// <summary>The transfer's operator body (POST /transfer/rollback|pin|unpin|abandon).</summary>
    public static Fuzzer OperatorBodies() => new("operatorbody", [Utf8("{\"version\": \"100_101\"}"), Utf8("{}")], input =>
        JsonSerializer.Deserialize(input, ControlJsonContext.Default.OperatorRequest), typeof(JsonException));

    /// <summary>An Open Inference Protocol infer body: the JSON alone, and the same bytes split
    /// into JSON and binary tensor data at a point the first byte picks.</summary>
    public static Fuzzer OipRequests() => new("oiprequest",
        [Utf8("{\"id\": \"1\", \"inputs\": [{\"name\": \"lines\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"a\", \"b\"]}], \"outputs\": [{\"name\": \"prob\", \"parameters\": {\"binary_data\": true}}]}"),
         Utf8("{\"inputs\": [{\"name\": \"dense\", \"shape\": [1, 2], \"datatype\": \"FP32\", \"data\": [[1.5, null]]}, {\"name\": \"sparse\", \"shape\": [1, 2], \"datatype\": \"INT64\", \"data\": [-1, 7]}]}"),
         [.. Utf8("{\"inputs\": [{\"name\": \"lines\", \"shape\": [1], \"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": 7}}]}"), 3, 0, 0, 0, 0x61, 0x62, 0x63]], input =>
    {
        Appliance.Core.Engine.Oip.OipRequest.Read(input, []);
        var split = input.Length == 0 ? 0 : input[0] % (input.Length + 1);
        Appliance.Core.Engine.Oip.OipRequest.Read(input.AsMemory(0, input.Length - split), input.AsSpan(input.Length - split));
    }, typeof(Appliance.Core.Engine.Oip.OipException));

    /// <summary>A gRPC ModelInfer request's bytes: parsed as protobuf, its tensors read from
    /// contents or raw_input_contents, and turned into samples for the default model.</summary>
    public static Fuzzer GrpcInferRequests() => new("grpcinfer", [.. GrpcCorpus().Select(Google.Protobuf.MessageExtensions.ToByteArray)], input =>
    {
        var request = Appliance.Core.Engine.Grpc.V2.ModelInferRequest.Parser.ParseFrom(input);
        var tensors = Appliance.Core.Engine.Grpc.GrpcTensors.Inputs(request);
        Appliance.Core.Engine.Oip.OipEndpoints.Samples(tensors, new ModelSpec { Dict = "emb" }, 100);
    }, typeof(Google.Protobuf.InvalidProtocolBufferException), typeof(Appliance.Core.Engine.Oip.OipException));

    private static IEnumerable<Appliance.Core.Engine.Grpc.V2.ModelInferRequest> GrpcCorpus()
    {
        var line = System.Text.Encoding.UTF8.GetBytes(string.Join('\t', Enumerable.Range(0, 39).Select(i => i < 13 ? "1" : "a1b2c3d4")));
        var contents = new Appliance.Core.Engine.Grpc.V2.ModelInferRequest { ModelName = "model", Id = "1" };
        var input = new Appliance.Core.Engine.Grpc.V2.ModelInferRequest.Types.InferInputTensor { Name = "lines", Datatype = "BYTES", Shape = { 1 }, Contents = new() };
        input.Contents.BytesContents.Add(Google.Protobuf.ByteString.CopyFrom(line));
        contents.Inputs.Add(input);
        yield return contents;
        var raw = new Appliance.Core.Engine.Grpc.V2.ModelInferRequest { ModelName = "model" };
        raw.Inputs.Add(new Appliance.Core.Engine.Grpc.V2.ModelInferRequest.Types.InferInputTensor { Name = "lines", Datatype = "BYTES", Shape = { 1 } });
        raw.RawInputContents.Add(Google.Protobuf.ByteString.CopyFrom([.. BitConverter.GetBytes(line.Length), .. line]));
        yield return raw;
        var tensors = new Appliance.Core.Engine.Grpc.V2.ModelInferRequest { ModelName = "model" };
        tensors.Inputs.Add(new Appliance.Core.Engine.Grpc.V2.ModelInferRequest.Types.InferInputTensor { Name = "dense", Datatype = "FP32", Shape = { 1, 13 } });
        tensors.Inputs.Add(new Appliance.Core.Engine.Grpc.V2.ModelInferRequest.Types.InferInputTensor { Name = "sparse", Datatype = "INT64", Shape = { 1, 26 } });
        tensors.RawInputContents.Add(Google.Protobuf.ByteString.CopyFrom(new byte[13 * 4]));
        tensors.RawInputContents.Add(Google.Protobuf.ByteString.CopyFrom(new byte[26 * 8]));
        yield return tensors;
    }

    public static IEnumerable<Fuzzer> All() => Factories.Select(make => make());

    /// <summary>One target by name (the targets after it are not made).</summary>
    public static Fuzzer Named(string name) =>
        All().FirstOrDefault(t => t.Target == name) ?? throw new ArgumentException($"no fuzz target '{name}'");

    /// <summary>Runs a reader that takes a path on <paramref name="input"/> written to a temporary file.</summary>
    private static void WithTempFile(byte[] input, string name, Action<string> read)
    {
        var path = Path.Combine(Path.GetTempPath(), $"fuzz-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}-{name}");
        File.WriteAllBytes(path, input);
        try
        {
            read(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    internal static List<byte[]> FrameCorpus()
    {
        var buffer = new FrameBuffer();
        LookupCodec.WriteRequest(buffer, 1, "emb", [1, 2, ulong.MaxValue]);
        var lookup = buffer.WrittenSpan.ToArray();
        buffer.Clear();
        PredictCodec.WriteRequest(buffer, 2, "m", ["1\t2\t3", "x"]);
        var predict = buffer.WrittenSpan.ToArray();
        buffer.Clear();
        buffer.BeginFrame(Opcode.Ping, FrameFlags.None, 3);
        buffer.Write("hello"u8);
        buffer.EndFrame();
        return [lookup, predict, buffer.WrittenSpan.ToArray(), [.. lookup, .. predict]];
    }

    private static byte[] SequenceFile(bool bytesWritable)
    {
        var stream = new MemoryStream();
        using (var writer = new SequenceFileWriter(stream, new byte[16], bytesWritable, ownsStream: false))
        {
            for (ulong k = 1; k <= 5; k++)
            {
                writer.Write(k, BitConverter.GetBytes((float)k));
            }
        }

        return stream.ToArray();
    }
}
