using System.Diagnostics;
using Appliance.Core.Engine;
using Appliance.Core.Storage;

namespace Appliance.Cli;

internal static partial class PredictCommand
{
    /// <summary>
    /// <c>--in-process</c>: the file scored by the engine's own code (<see cref="CtrEngine"/>, the
    /// same parse, hash, gather and ONNX Runtime run an engine role does per batch), one thread, in
    /// order, no HTTP and no batching across requests. Run it on the core an engine would have
    /// (<c>taskset -c 0</c>) and the difference to <c>--engine</c> is what HTTP, JSON and the
    /// engine's scheduling cost.
    /// </summary>
    private static Summary ScoreInProcess(string modelDir, string dataDir, bool inMemory, string[] lines, int batch, string? outPath)
    {
        using var model = ModelPackage.Load(modelDir);
        using var table = LocalTable.OpenNewest(dataDir, model.Spec.Dict, inMemory);
        var engine = new CtrEngine(model, new LocalEmbeddingSource(table));
        var samples = EngineSample.FromLines(lines);
        var scores = new float?[lines.Length];
        var errors = new string?[lines.Length];
        var latency = new LatencyRecorder();
        var batches = (lines.Length + batch - 1) / batch;
        var degraded = 0;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        for (var b = 0; b < batches; b++)
        {
            var start = b * batch;
            var slice = new ArraySegment<EngineSample>(samples, start, Math.Min(batch, lines.Length - start));
            var began = Stopwatch.GetTimestamp();
            var result = engine.ScoreAsync(slice).GetAwaiter().GetResult();
            latency.Record(Stopwatch.GetElapsedTime(began).TotalMicroseconds);
            degraded += result.UnavailableKeys > 0 ? slice.Count : 0;
            result.Scores.CopyTo(scores, start);
            result.Errors.CopyTo(errors, start);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var perRequest = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / Math.Max(batches, 1);
        Console.Out.WriteLine($"memory   {perRequest} bytes allocated per request (managed heap; ONNX Runtime's own not counted)");
        return ReportAsync(lines, scores, errors, 0, degraded, latency, seconds, batches, $"batch {batch}, in process, one thread", outPath, Console.Out).GetAwaiter().GetResult();
    }
}
