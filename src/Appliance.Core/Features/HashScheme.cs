namespace Appliance.Core.Features;

/// <summary>How a categorical token becomes a table key (named in model.json).</summary>
internal enum HashScheme
{
    /// <summary>The original demo's: CPython 2 string hash of "&lt;field index&gt;&lt;token&gt;" mod 1000001.</summary>
    Paddle = 0,

    /// <summary>Native 64-bit: XxHash64 over the slot byte and the token, no modulo.</summary>
    Xxh64 = 1,
}
