using System.Diagnostics;
using System.IO.Hashing;
using System.Text;

namespace Appliance.Core.Features;

/// <summary>
/// Categorical tokens → table keys, exactly as training did.
/// <list type="bullet">
/// <item><b>paddle</b>: the bytes of the field's index in a labelled line (C1 → "14" … C26 →
/// "39") followed by the token, hashed with CPython 2's string hash (64-bit, wrapping), reduced
/// with Python's floored modulo 1000001. All 26 slots share one table; the prefix separates them.</item>
/// <item><b>xxh64</b>: XxHash64 (seed 0) of one byte holding the slot index 0..25 followed by the
/// token's UTF-8 bytes; the full 64 bits are the key (no modulo, so no forced collisions).</item>
/// </list>
/// </summary>
internal static class FeatureHasher
{
    public const long PaddleHashDim = 1_000_001;

    /// <summary>Index of C1 in a labelled line; the original 2019 C++ client used 13 (an
    /// off-by-one that sent ids the model never saw).</summary>
    public const int PaddleFirstField = 14;

    private const long CPython2Multiplier = 1_000_003;

    private const int PaddlePrefixLength = 2;

    /// <summary>The hash state after the prefix "14" … "39" of each Criteo slot; every prefix is
    /// two bytes.</summary>
    private static readonly long[] PaddlePrefixes = [.. Enumerable.Range(0, CriteoSample.SparseCount).Select(PaddlePrefixState)];

    public static ulong Key(HashScheme scheme, int slot, ReadOnlySpan<char> token) => scheme switch
    {
        HashScheme.Paddle => PaddleKey(slot, token),
        HashScheme.Xxh64 => Xxh64Key(slot, token),
        _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "unknown hash scheme"),
    };

    /// <summary>
    /// The keys of one line's tokens: slot s is <paramref name="line"/>[<paramref name="tokens"/>[s]],
    /// for s below <paramref name="keys"/>' length. The same keys as <see cref="Key"/> per token.
    /// </summary>
    public static void Keys(HashScheme scheme, ReadOnlySpan<char> line, ReadOnlySpan<Range> tokens, Span<ulong> keys)
    {
        var s = 0;
        if (scheme == HashScheme.Paddle)
        {
            // CPython 2's hash is one chain of dependent multiplies per token (~4 cycles a byte),
            // so a token at a time leaves the multiplier idle; four tokens side by side keep it
            // busy (256 lines × 26 tokens: 110 µs a token at a time, 44 µs four at a time).
            for (; s + 4 <= keys.Length && s + 4 <= PaddlePrefixes.Length; s += 4)
            {
                PaddleKeys4(s, line[tokens[s]], line[tokens[s + 1]], line[tokens[s + 2]], line[tokens[s + 3]], keys[s..]);
            }
        }

        for (; s < keys.Length; s++)
        {
            keys[s] = Key(scheme, s, line[tokens[s]]);
        }
    }

    public static ulong PaddleKey(int slot, ReadOnlySpan<char> token)
    {
        // "<field index><token>" as UTF-8 on the stack: no string or array per token.
        var max = 11 + Encoding.UTF8.GetMaxByteCount(token.Length);
        Span<byte> text = max <= 256 ? stackalloc byte[max] : new byte[max];
        (PaddleFirstField + slot).TryFormat(text, out var n, default, System.Globalization.CultureInfo.InvariantCulture);
        n += Encoding.UTF8.GetBytes(token, text[n..]);
        return PaddleId(CPython2Hash(text[..n]));
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

    private static long PaddlePrefixState(int slot)
    {
        var prefix = (PaddleFirstField + slot).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Debug.Assert(prefix.Length == PaddlePrefixLength, "C1..C26 are fields 14..39");
        var ascii = 0;
        return ContinueHash((long)prefix[0] << 7, prefix, ref ascii);
    }

    /// <summary>
    /// <see cref="PaddleKey"/> of slots <paramref name="slot"/> … +3 at once, the four chains
    /// interleaved. An ASCII char is its own UTF-8 byte; a token with any other char sends the four
    /// to <see cref="PaddleKey"/>, which encodes UTF-8.
    /// </summary>
    private static void PaddleKeys4(int slot, ReadOnlySpan<char> a, ReadOnlySpan<char> b, ReadOnlySpan<char> c, ReadOnlySpan<char> d, Span<ulong> keys)
    {
        unchecked
        {
            long xa = PaddlePrefixes[slot], xb = PaddlePrefixes[slot + 1], xc = PaddlePrefixes[slot + 2], xd = PaddlePrefixes[slot + 3];
            var common = Math.Min(Math.Min(a.Length, b.Length), Math.Min(c.Length, d.Length));
            var bits = 0;
            for (var i = 0; i < common; i++)
            {
                int ca = a[i], cb = b[i], cc = c[i], cd = d[i];
                bits |= ca | cb | cc | cd;
                xa = (xa * CPython2Multiplier) ^ ca;
                xb = (xb * CPython2Multiplier) ^ cb;
                xc = (xc * CPython2Multiplier) ^ cc;
                xd = (xd * CPython2Multiplier) ^ cd;
            }

            xa = ContinueHash(xa, a[common..], ref bits);
            xb = ContinueHash(xb, b[common..], ref bits);
            xc = ContinueHash(xc, c[common..], ref bits);
            xd = ContinueHash(xd, d[common..], ref bits);
            if (bits >= 0x80)
            {
                (keys[0], keys[1], keys[2], keys[3]) = (PaddleKey(slot, a), PaddleKey(slot + 1, b), PaddleKey(slot + 2, c), PaddleKey(slot + 3, d));
                return;
            }

            keys[0] = PaddleId(CPython2Finish(xa, PaddlePrefixLength + a.Length));
            keys[1] = PaddleId(CPython2Finish(xb, PaddlePrefixLength + b.Length));
            keys[2] = PaddleId(CPython2Finish(xc, PaddlePrefixLength + c.Length));
            keys[3] = PaddleId(CPython2Finish(xd, PaddlePrefixLength + d.Length));
        }
    }

    private static long ContinueHash(long x, ReadOnlySpan<char> rest, ref int bits)
    {
        unchecked
        {
            foreach (var c in rest)
            {
                bits |= c;
                x = (x * CPython2Multiplier) ^ c;
            }

            return x;
        }
    }

    /// <summary>A CPython 2 hash → a table key: Python's floored modulo 1000001.</summary>
    private static ulong PaddleId(long hash)
    {
        var id = hash % PaddleHashDim;
        return (ulong)(id < 0 ? id + PaddleHashDim : id);
    }

    /// <summary>The end of <see cref="CPython2Hash"/>: the length mixed in, −1 made −2.</summary>
    private static long CPython2Finish(long x, int length)
    {
        x ^= length;
        return x == -1 ? -2 : x;
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
                x = (x * CPython2Multiplier) ^ b;
            }

            return CPython2Finish(x, bytes.Length);
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
