using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.CompilerServices;

namespace Appliance.Core.Resp;

/// <summary>
/// A RESP key as the table's number: its decimal text (redis-benchmark's __rand_int__ is 12
/// digits) parsed eight digits at a time in one 64-bit register instead of one digit per
/// multiply-add: twelve of those are a chain of dependent multiplies, ~50 cycles a key. In process
/// (bench/Appliance.Bench `aot --filter *RespBenchmarks*`) RESP MGET went from 2.02× the binary
/// protocol's cost per key to 1.39×.
/// </summary>
internal static class DecimalKey
{
    private const ulong Zeros = 0x3030_3030_3030_3030; // '0' in every byte
    private const ulong HighBits = 0x8080_8080_8080_8080;
    private const ulong PastNine = 0x4646_4646_4646_4646; // a byte over '9' (0x39) reaches 0x80 with it

    private static ReadOnlySpan<ulong> PowersOfTen => [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

    /// <summary>Parses all of <paramref name="text"/> as a decimal uint64 (digits only, leading
    /// zeros allowed); false for anything else or a value past <see cref="ulong.MaxValue"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out ulong key)
    {
        if (text.Length is 0 or > 19)
        {
            // Past 19 digits only leading zeros keep it in range: the general parser decides.
            return Utf8Parser.TryParse(text, out key, out var used) && used == text.Length && text.Length > 0;
        }

        ulong value = 0;
        var at = 0;
        for (; at + 8 <= text.Length; at += 8)
        {
            if (!TryEight(BinaryPrimitives.ReadUInt64LittleEndian(text[at..]), out var eight))
            {
                key = 0;
                return false;
            }

            value = (value * 100_000_000) + eight; // 19 digits at most: no overflow
        }

        var tail = text.Length - at;
        if (tail > 0 && at > 0)
        {
            // The last 1-7 digits: the eight bytes that end the text, the ones already parsed
            // turned into '0's (they are its first bytes: the lowest, read little-endian).
            var keep = ~0UL << ((8 - tail) * 8);
            var chunk = (BinaryPrimitives.ReadUInt64LittleEndian(text[^8..]) & keep) | (Zeros & ~keep);
            if (!TryEight(chunk, out var last))
            {
                key = 0;
                return false;
            }

            key = (value * PowersOfTen[tail]) + last;
            return true;
        }

        for (; at < text.Length; at++)
        {
            var digit = (uint)(text[at] - '0');
            if (digit > 9)
            {
                key = 0;
                return false;
            }

            value = (value * 10) + digit;
        }

        key = value;
        return true;
    }

    /// <summary>Eight ASCII digits, the first in the lowest byte (little-endian load), as their
    /// value; false if any byte is not a digit. A byte below '0' borrows into its own high bit
    /// when '0' is subtracted, one above '9' carries into it when 0x46 is added; eight digits
    /// do neither, so no borrow or carry crosses into a neighbour.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryEight(ulong chunk, out ulong value)
    {
        var digits = chunk - Zeros;
        if (((digits | (chunk + PastNine)) & HighBits) != 0)
        {
            value = 0;
            return false;
        }

        // Pairs, then fours, then the eight: each step multiplies the higher-order half by its
        // power of ten and adds the lower (the first digit is the most significant).
        digits = ((digits * 10) + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
        digits = ((digits * 100) + (digits >> 16)) & 0x0000_FFFF_0000_FFFF;
        value = ((digits * 10_000) + (digits >> 32)) & 0xFFFF_FFFF;
        return true;
    }
}
