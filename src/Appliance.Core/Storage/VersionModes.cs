namespace Appliance.Core.Storage;

/// <summary>The text form of <see cref="VersionMode"/> (flags, logs).</summary>
internal static class VersionModes
{
    public static string Name(this VersionMode mode) => mode == VersionMode.Base ? "base" : "delta";

    public static bool TryParse(string? text, out VersionMode mode)
    {
        (var ok, mode) = text switch
        {
            "base" => (true, VersionMode.Base),
            "delta" => (true, VersionMode.Delta),
            _ => (false, VersionMode.Base),
        };
        return ok;
    }
}
