namespace Appliance.Core.Storage;

/// <summary>What a build produced, with timings for the operator.</summary>
internal sealed record BuildResult(
    string Directory,
    VersionInfo Info,
    IReadOnlyList<string> InputFiles,
    long InputBytes,
    int Passes,
    TimeSpan Elapsed);
