using System.IO.Hashing;
using System.Text;

namespace Appliance.Core.Engine;

/// <summary>
/// Categorical tokens → table keys, exactly as training did (reference/ctr.md §1.3).
/// <list type="bullet">
/// <item><b>paddle</b>: the bytes of the field's index in a labelled line (C1 → "14" … C26 →
/// "39") followed by the token, hashed with CPython 2's string hash (64-bit, wrapping), reduced
/// with Python's floored modulo 1000001. All 26 slots share one table; the prefix separates them.</item>
/// <item><b>xxh64</b>: XxHash64 (seed 0) of one byte holding the slot index 0..25 followed by the
/// token's UTF-8 bytes; the full 64 bits are the key (no modulo, so no forced collisions).</item>
/// </list>
/// </summary>
public static class FeatureHasher
{
    public const long PaddleHashDim = 1_000_001;

    /// <summary>Index of C1 in a labelled line; the original 2019 C++ client used 13 (an
    /// off-by-one that sent ids the model never saw).</summary>
    public const int PaddleFirstField = 14;

    public static ulong Key(HashScheme scheme, int slot, ReadOnlySpan<char> token) => scheme switch
    {
        HashScheme.Paddle => PaddleKey(slot, token),
        HashScheme.Xxh64 => Xxh64Key(slot, token),
        _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "unknown hash scheme"),
    };

    public static ulong PaddleKey(int slot, ReadOnlySpan<char> token)
    {
        // "<field index><token>" as UTF-8 on the stack: no string or array per token.
        var max = 11 + Encoding.UTF8.GetMaxByteCount(token.Length);
        Span<byte> text = max <= 256 ? stackalloc byte[max] : new byte[max];
        (PaddleFirstField + slot).TryFormat(text, out var n, default, System.Globalization.CultureInfo.InvariantCulture);
        n += Encoding.UTF8.GetBytes(token, text[n..]);
        var id = CPython2Hash(text[..n]) % PaddleHashDim;
        return (ulong)(id < 0 ? id + PaddleHashDim : id);
    }

    public static ulong Xxh64Key(int slot, ReadOnlySpan<char> token)
    {
        // Short tokens on the stack, long ones on the heap: no input may grow the stack (a
        // 3,000,000-character token once took the process down).
        var max = 1 + Encoding.UTF8.GetMaxByteCount(token.Length);
        Span<byte> bytes = max <= 256 ? stackalloc byte[max] : new byte[max];
        bytes[0] = (byte)slot;
        var n = Encoding.UTF8.GetBytes(token, bytes[1..]);
        return XxHash64.HashToUInt64(bytes[..(1 + n)]);
    }

    /// <summary>CPython 2's str hash with randomisation off: x = b0 × 128; x = (x × 1000003) ^ b
    /// for every byte; x ^= length; −1 becomes −2. Signed 64-bit, wrapping.</summary>
    public static long CPython2Hash(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return 0;
        }

        unchecked
        {
            long x = (long)bytes[0] << 7;
            foreach (var b in bytes)
            {
                x = (x * 1_000_003) ^ b;
            }

            x ^= bytes.Length;
            return x == -1 ? -2 : x;
        }
    }

    public static bool TryParse(string? text, out HashScheme scheme)
    {
        switch (text)
        {
            case "paddle": scheme = HashScheme.Paddle; return true;
            case "xxh64": scheme = HashScheme.Xxh64; return true;
            default: scheme = HashScheme.Paddle; return false;
        }
    }
}
