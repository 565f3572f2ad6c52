using Appliance.Bench.Storage;
using BenchmarkDotNet.Running;

namespace Appliance.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Appliance.Bench -- [BenchmarkDotNet args]</c> runs the
/// BenchmarkDotNet suites; <c>-- build ...</c> and <c>-- memory ...</c> run the build-throughput and
/// index-size measurements (whole-program timings that BenchmarkDotNet is not shaped for).
/// </summary>
internal static class Program
{
    public static int Main(string[] args) => args.FirstOrDefault() switch
    {
        "build" => BuildThroughput.Run(args[1..]),
        "memory" => IndexMemory.Run(args[1..]),
        "engine-fixture" => Engine.EngineFixture.Run(args[1..]),
        _ => Run(args),
    };

    private static int Run(string[] args)
    {
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
