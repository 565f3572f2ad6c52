namespace Appliance.Core.Formats;

/// <summary>Version ids are strings of digits (usually unix seconds), compared as numbers.</summary>
internal static class VersionId
{
    public static bool IsValid(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= 19 && id.All(char.IsAsciiDigit);

    public static int Compare(string a, string b)
    {
        var x = a.TrimStart('0');
        var y = b.TrimStart('0');
        return x.Length != y.Length ? x.Length.CompareTo(y.Length) : string.CompareOrdinal(x, y);
    }

    public static string Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
}
