using Appliance.Bench.Storage;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.NativeAot;

namespace Appliance.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Appliance.Bench -- [BenchmarkDotNet args]</c> runs the
/// BenchmarkDotNet suites; <c>-- build ...</c> and <c>-- memory ...</c> run the build-throughput and
/// index-size measurements (whole-program timings that BenchmarkDotNet is not shaped for).
/// <c>-- aot [BenchmarkDotNet args]</c> compiles the benchmarks with native AOT, as the shipped
/// binary is (the JIT's tiering and profile-guided code can differ from it by 2× on one method).
/// </summary>
internal static class Program
{
    public static int Main(string[] args) => args.FirstOrDefault() switch
    {
        "build" => BuildThroughput.Run(args[1..]),
        "memory" => IndexMemory.Run(args[1..]),
        "engine-fixture" => Engine.EngineFixture.Run(args[1..]),
        "aot" => Run(args[1..], NativeAot()),
        _ => Run(args, null),
    };

    private static int Run(string[] args, IConfig? config)
    {
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }

    /// <summary>BenchmarkDotNet's own NativeAOT runtime asks a preview package feed; an empty
    /// ILCompiler version takes the SDK's own compiler from the ordinary NuGet index.</summary>
    private static IConfig NativeAot() => DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(
        NativeAotToolchain.CreateBuilder().UseNuGet(string.Empty, "https://api.nuget.org/v3/index.json").TargetFrameworkMoniker("net10.0").ToToolchain()));
}
