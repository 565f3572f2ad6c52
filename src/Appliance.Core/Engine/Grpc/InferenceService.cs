using Appliance.Core.Engine.Grpc.V2;
using Appliance.Core.Engine.Oip;
using Grpc.Core;

namespace Appliance.Core.Engine.Grpc;

/// <summary>
/// KServe v2's <c>inference.GRPCInferenceService</c> on the engine's <c>--grpc-port</c>: the same
/// models, versions, tensors, limits, scores and error messages as the REST endpoint
/// (<see cref="OipEndpoints"/>), whose lookups and sample building it shares; refusals are gRPC
/// status codes (<see cref="GrpcStatus"/>).
/// </summary>
internal sealed class InferenceService(EngineRole engine, GrpcStats stats) : GRPCInferenceService.GRPCInferenceServiceBase
{
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        stats.Run(nameof(ServerLive), () => new ServerLiveResponse { Live = true });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        stats.Run(nameof(ServerReady), () => new ServerReadyResponse { Ready = engine.NotReadyReason() is null });

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context) =>
        stats.Run(nameof(ModelReady), () => new ModelReadyResponse { Ready = engine.NotReadyReason(Variant(request.Name, request.Version)) is null });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        stats.Run(nameof(ServerMetadata), () => new ServerMetadataResponse { Name = "cube-appliance", Version = typeof(InferenceService).Assembly.GetName().Version?.ToString(3) ?? "0" });

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context) =>
        stats.Run(nameof(ModelMetadata), () =>
        {
            var variant = Variant(request.Name, request.Version);
            var spec = variant.Engine.Model.Spec;
            return new ModelMetadataResponse
            {
                Name = variant.Name,
                Versions = { variant.Engine.Model.Timestamp },
                Platform = "onnxruntime_onnx",
                Inputs =
                {
                    Tensor("lines", "BYTES", -1),
                    Tensor("dense", "FP32", -1, spec.DenseWidth),
                    Tensor("sparse", "BYTES", -1, spec.SparseSlots),
                },
                Outputs = { Tensor(spec.Output, "FP32", -1, 1) },
            };
        });

    public override Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context) =>
        stats.RunAsync(nameof(ModelInfer), async () =>
        {
            var variant = Variant(request.ModelName, request.ModelVersion);
            var spec = variant.Engine.Model.Spec;
            var samples = OipEndpoints.Samples(GrpcTensors.Inputs(request), spec, engine.Options.MaxSamples);
            if (request.Outputs.FirstOrDefault(o => o.Name != spec.Output) is { } other)
            {
                throw new OipException($"output '{other.Name}' is not produced (the model's output is '{spec.Output}')");
            }

            var outcome = await engine.PredictAsync(samples, variant.Name, context.CancellationToken).ConfigureAwait(false);
            if (outcome.Response is not { } answer)
            {
                throw new RpcException(new Status(GrpcStatus.Of(outcome.Refusal), outcome.Refusal.Message));
            }

            if (answer.Errors.Select((e, i) => (e, i)).FirstOrDefault(x => x.e is not null) is { e: { } why } failed)
            {
                throw new OipException($"sample {failed.i}: {why}");
            }

            if (request.ModelVersion.Length > 0 && answer.ModelVersion != request.ModelVersion)
            {
                throw new OipException($"model '{variant.Name}' version '{request.ModelVersion}' was replaced by {answer.ModelVersion} during the request; ask again", 404);
            }

            return GrpcTensors.Response(request, variant.Name, answer, spec.Output);
        });

    /// <summary>The variant named (an empty version: the live one).</summary>
    private ModelVariant Variant(string name, string version) => OipEndpoints.Variant(engine, name, version.Length == 0 ? null : version);

    private static ModelMetadataResponse.Types.TensorMetadata Tensor(string name, string datatype, params long[] shape) =>
        new() { Name = name, Datatype = datatype, Shape = { shape } };
}
