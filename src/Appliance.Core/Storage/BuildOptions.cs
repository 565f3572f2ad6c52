namespace Appliance.Core.Storage;

/// <summary>Input of one build. Every field is validated by <see cref="TableBuilder"/> before any work.</summary>
internal sealed record BuildOptions
{
    public required string InputPath { get; init; }

    public required string OutputPath { get; init; }

    public required string Dict { get; init; }

    public required int Shards { get; init; }

    public VersionMode Mode { get; init; } = VersionMode.Base;

    /// <summary>Version id of the new package (digits). A base's base id is its own version.</summary>
    public required string Version { get; init; }

    /// <summary>For a delta: the base it patches.</summary>
    public string? Base { get; init; }

    public ValueCodec Codec { get; init; } = ValueCodec.Raw;

    /// <summary>"seqfile" (default) or "text".</summary>
    public string InputFormat { get; init; } = "seqfile";

    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Bytes of input values held in memory at once; more input is built in several passes
    /// over the input, each taking a group of shards. 0 = two thirds of the memory available.</summary>
    public long MemoryBudget { get; init; }

    public bool IsDelta => Mode == VersionMode.Delta;

    public string BaseId => IsDelta ? Base! : Version;
}
