namespace Appliance.Core.Storage;

/// <summary>A file of a package: name, exact length and XxHash128 (lowercase hex) of its bytes.</summary>
internal sealed record FileDigest(string File, long Bytes, string Xxh128);
