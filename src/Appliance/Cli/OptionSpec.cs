namespace Appliance.Cli;

/// <summary>One documented option of a command. <see cref="IsFlag"/> options take no value.</summary>
internal sealed record OptionSpec(string Name, string Help, string? Default = null, bool IsFlag = false, string? Meta = null);
