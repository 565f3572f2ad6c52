using System.Globalization;
using System.Text;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>How tools print a value: lowercase hex, or floats decoded with the package's codec
/// (shortest round-trip form, space-separated).</summary>
internal static class ValueText
{
    public static string Format(ReadOnlySpan<byte> value, bool floats, ValueCodec codec)
    {
        if (!floats)
        {
            return Convert.ToHexStringLower(value);
        }

        var dimension = ValueCodecs.DecodedDimension(codec, value.Length);
        Span<float> decoded = dimension <= 1024 ? stackalloc float[dimension] : new float[dimension];
        ValueCodecs.Decode(codec, value, decoded);
        var text = new StringBuilder(dimension * 10);
        for (var i = 0; i < dimension; i++)
        {
            if (i > 0)
            {
                text.Append(' ');
            }

            text.Append(decoded[i].ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }
}
