using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Appliance.Core.Engine;
using Appliance.Core.Engine.Grpc.V2;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Appliance.Cli;

/// <summary>
/// How <c>cube predict</c> sends a batch of lines: <c>predict</c> (POST /predict JSON),
/// <c>oip</c> (Open Inference Protocol JSON, lines as a BYTES tensor), <c>oip-binary</c> (the
/// binary tensor data extension both ways) or <c>grpc</c> (the same protocol over gRPC, lines in
/// raw_input_contents as Triton's clients send them; --engine is then the engine's --grpc-port). Each returns the scores, per-sample errors and the
/// keys of failed shards the engine reported.
/// </summary>
internal abstract class PredictProtocol
{
    /// <summary>Scores and per-sample errors, or (the request failed) <see cref="Failure"/>: the HTTP status and body.</summary>
    public sealed record Answer(float?[] Scores, string?[] Errors, int UnavailableKeys, string? Failure = null)
    {
        public static Answer Failed(int count, string failure) => new(new float?[count], new string?[count], 0, failure);
    }

    public static PredictProtocol Create(string name, string model) => name switch
    {
        "predict" => new Predict(),
        "oip" => new Oip(model, binary: false),
        "oip-binary" => new Oip(model, binary: true),
        "grpc" => new GrpcInfer(model),
        _ => throw new UsageException($"option --protocol: '{name}' is not predict, oip, oip-binary or grpc"),
    };

    public abstract Task<Answer> SendAsync(HttpClient http, IReadOnlyList<string> lines);

    private sealed class Predict : PredictProtocol
    {
        public override async Task<Answer> SendAsync(HttpClient http, IReadOnlyList<string> lines)
        {
            // Whole, with its Content-Length (as the OIP requests below): PostAsJsonAsync streamed it
            // chunked, in several writes the engine then read one by one.
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new PredictRequest { Lines = lines }, EngineJsonContext.Default.PredictRequest));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync("predict", content).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return Answer.Failed(lines.Count, $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
            }

            var body = await response.Content.ReadFromJsonAsync(EngineJsonContext.Default.PredictResponse).ConfigureAwait(false);
            return new Answer([.. body!.Scores], [.. body.Errors], body.UnavailableKeys);
        }
    }

    private sealed class Oip(string model, bool binary) : PredictProtocol
    {
        public override async Task<Answer> SendAsync(HttpClient http, IReadOnlyList<string> lines)
        {
            var header = new ArrayBufferWriter<byte>();
            byte[] tensor = [];
            using (var json = new Utf8JsonWriter(header))
            {
                json.WriteStartObject();
                json.WriteStartArray("inputs");
                json.WriteStartObject();
                json.WriteString("name", "lines");
                json.WriteString("datatype", "BYTES");
                json.WriteStartArray("shape");
                json.WriteNumberValue(lines.Count);
                json.WriteEndArray();
                if (binary)
                {
                    tensor = BytesTensor(lines);
                    json.WriteStartObject("parameters");
                    json.WriteNumber("binary_data_size", tensor.Length);
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteStartArray("data");
                    foreach (var line in lines)
                    {
                        json.WriteStringValue(line);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
                json.WriteEndArray();
                if (binary)
                {
                    json.WriteStartObject("parameters");
                    json.WriteBoolean("binary_data_output", true);
                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            using var content = new ByteArrayContent([.. header.WrittenSpan, .. tensor]);
            content.Headers.ContentType = new MediaTypeHeaderValue(binary ? "application/octet-stream" : "application/json");
            if (binary)
            {
                content.Headers.Add("Inference-Header-Content-Length", header.WrittenCount.ToString(CultureInfo.InvariantCulture));
            }

            using var response = await http.PostAsync($"v2/models/{model}/infer", content).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return Answer.Failed(lines.Count, $"HTTP {(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
            }

            var jsonLength = response.Headers.TryGetValues("Inference-Header-Content-Length", out var values) ? int.Parse(values.Single(), CultureInfo.InvariantCulture) : body.Length;
            using var answer = JsonDocument.Parse(body.AsMemory(0, jsonLength));
            var output = answer.RootElement.GetProperty("outputs")[0];
            var scores = new float?[lines.Count];
            if (output.TryGetProperty("data", out var data))
            {
                var i = 0;
                foreach (var score in data.EnumerateArray())
                {
                    scores[i++] = score.GetSingle();
                }
            }
            else
            {
                for (var i = 0; i < scores.Length; i++)
                {
                    scores[i] = BinaryPrimitives.ReadSingleLittleEndian(body.AsSpan(jsonLength + (i * 4)));
                }
            }

            var unavailable = answer.RootElement.TryGetProperty("parameters", out var p) && p.TryGetProperty("unavailable_keys", out var u) ? u.GetInt32() : 0;
            return new Answer(scores, new string?[lines.Count], unavailable);
        }

        /// <summary>A BYTES tensor's binary form: each element's length (4 bytes, little-endian), then its bytes.</summary>
        internal static byte[] BytesTensor(IReadOnlyList<string> lines)
        {
            var size = lines.Sum(l => 4 + Encoding.UTF8.GetByteCount(l));
            var bytes = new byte[size];
            var at = 0;
            foreach (var line in lines)
            {
                var written = Encoding.UTF8.GetBytes(line, bytes.AsSpan(at + 4));
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), written);
                at += 4 + written;
            }

            return bytes;
        }
    }

    /// <summary>ModelInfer on the engine's gRPC port, one HTTP/2 channel shared by every
    /// connection loop of cube predict (its calls are streams on it).</summary>
    private sealed class GrpcInfer(string model) : PredictProtocol
    {
        private GrpcChannel? _channel;

        public override async Task<Answer> SendAsync(HttpClient http, IReadOnlyList<string> lines)
        {
            var channel = LazyInitializer.EnsureInitialized(ref _channel, () => GrpcChannel.ForAddress(http.BaseAddress!, new GrpcChannelOptions
            {
                MaxReceiveMessageSize = 256 << 20,
                MaxSendMessageSize = 256 << 20,
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            }));
            var request = new ModelInferRequest { ModelName = model };
            request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "lines", Datatype = "BYTES", Shape = { lines.Count } });
            request.RawInputContents.Add(UnsafeByteOperations.UnsafeWrap(Oip.BytesTensor(lines)));
            ModelInferResponse response;
            try
            {
                response = await new GRPCInferenceService.GRPCInferenceServiceClient(channel).ModelInferAsync(request, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                return Answer.Failed(lines.Count, $"gRPC {e.StatusCode}: {e.Status.Detail}");
            }

            var scores = new float?[lines.Count];
            if (response.RawOutputContents.Count > 0)
            {
                var raw = response.RawOutputContents[0].Span;
                for (var i = 0; i < scores.Length; i++)
                {
                    scores[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                }
            }
            else
            {
                var contents = response.Outputs[0].Contents.Fp32Contents;
                for (var i = 0; i < scores.Length; i++)
                {
                    scores[i] = contents[i];
                }
            }

            var unavailable = response.Parameters.TryGetValue("unavailable_keys", out var u) ? (int)u.Int64Param : 0;
            return new Answer(scores, new string?[lines.Count], unavailable);
        }
    }
}
