using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Appliance.Core.Formats;

/// <summary>
/// Reads the text table forms (as the original kv_to_seqfile.py reads them):
/// <code>
///   key:value            value = the ASCII text after the first ':' (the original kept only the
///                        text up to a second ':'; we keep all of it)
///   key&lt;TAB&gt;f1 f2 ...     value = each float as float32 little-endian
/// </code>
/// Whichever of ':' and TAB comes first on a line decides its form. Blank lines are skipped.
/// Errors name the file and line.
/// </summary>
internal sealed class TextKvReader : ITableReader
{
    private readonly TextReader _reader;
    private byte[] _valueBuffer = new byte[256];
    private int _valueLength;

    public TextKvReader(TextReader reader, string path)
    {
        _reader = reader;
        Path = path;
    }

    public string Path { get; }

    public long LineNumber { get; private set; }

    public string Location => $"line {LineNumber}";

    public ulong Key { get; private set; }

    public ReadOnlySpan<byte> Value => _valueBuffer.AsSpan(0, _valueLength);

    public static TextKvReader Open(string path)
    {
        try
        {
            return new TextKvReader(new StreamReader(path, Encoding.UTF8, false, 1 << 16), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputFormatException.AtLine(path, 0, $"cannot open: {e.Message}");
        }
    }

    public bool MoveNext()
    {
        while (_reader.ReadLine() is { } line)
        {
            LineNumber++;
            if (line.Length == 0 || string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            Parse(line);
            return true;
        }

        return false;
    }

    public void Dispose() => _reader.Dispose();

    private void Parse(string line)
    {
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        var tab = line.IndexOf('\t', StringComparison.Ordinal);
        var floats = tab >= 0 && (colon < 0 || tab < colon);
        var split = floats ? tab : colon;
        if (split < 0)
        {
            throw InputFormatException.AtLine(Path, LineNumber, "expected 'key:value' or 'key<TAB>floats'");
        }

        var keyText = line.AsSpan(0, split).Trim();
        if (!ulong.TryParse(keyText, NumberStyles.None, CultureInfo.InvariantCulture, out var key))
        {
            throw InputFormatException.AtLine(Path, LineNumber, $"key '{keyText}' is not an unsigned 64-bit integer");
        }

        Key = key;
        var rest = line.AsSpan(split + 1);
        if (!floats)
        {
            EnsureCapacity(Encoding.UTF8.GetByteCount(rest));
            var n = Encoding.UTF8.GetBytes(rest, _valueBuffer);
            _valueLength = n;
            return;
        }

        var count = 0;
        EnsureCapacity(rest.Length * 2 + 4);
        foreach (var range in rest.SplitAny(' ', '\t'))
        {
            var token = rest[range];
            if (token.IsEmpty)
            {
                continue;
            }

            if (!float.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var f))
            {
                throw InputFormatException.AtLine(Path, LineNumber, $"value #{count / 4 + 1} '{token}' is not a number");
            }

            EnsureCapacity(count + 4);
            BinaryPrimitives.WriteSingleLittleEndian(_valueBuffer.AsSpan(count), f);
            count += 4;
        }

        _valueLength = count;
    }

    private void EnsureCapacity(int bytes)
    {
        if (_valueBuffer.Length < bytes)
        {
            Array.Resize(ref _valueBuffer, Math.Max(bytes, _valueBuffer.Length * 2));
        }
    }
}
