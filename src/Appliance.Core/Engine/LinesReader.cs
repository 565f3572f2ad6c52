using System.Buffers;

namespace Appliance.Core.Engine;

/// <summary>
/// The common <c>POST /predict</c> body — <c>{"lines": ["…", …]}</c>, optionally with
/// <c>"variant"</c> and <c>"samples": null</c> (what a serializer writes for the request type) —
/// read in one pass over the bytes: the lines are counted against the cap as they are read, and a
/// line's escapes (a Criteo line's 38 tabs arrive as <c>\t</c>) are undone straight into its
/// string. The general reader (System.Text.Json, after a counting pass) took 44 µs for a body of
/// 32 lines, 1.6 µs per sample: an eighth of what an engine core spends per sample over HTTP.
/// Only the exact shape is taken: anything else — another member, a duplicate one, samples other
/// than <c>null</c>, <c>null</c> lines, <c>\u</c> escapes, a byte above 0x7F or below 0x20 in a
/// string, comments, trailing commas, trailing content — answers null, and the body goes to the
/// general reader, which accepts or refuses it with its own message. So this path never accepts
/// what that one refuses, and gives the same request where both accept (the <c>predictbody</c>
/// fuzz target compares them).
/// </summary>
internal static class LinesReader
{
    /// <exception cref="ArgumentException">more lines than <paramref name="maxSamples"/></exception>
    public static PredictRequest? TryRead(ReadOnlySpan<byte> json, int maxSamples)
    {
        var at = 0;
        if (!Expect(json, ref at, (byte)'{'))
        {
            return null;
        }

        List<string>? lines = null;
        string? variant = null;
        var sawVariant = false;
        var sawSamples = false;
        var chars = ArrayPool<char>.Shared.Rent(512);
        try
        {
            if (Peek(json, ref at) == '}')
            {
                return null; // {} : the general reader's answer (no samples)
            }

            while (true)
            {
                var name = json[at..];
                if (name.StartsWith("\"lines\""u8) && lines is null)
                {
                    at += 7;
                    if (!Expect(json, ref at, (byte)':') || !Expect(json, ref at, (byte)'['))
                    {
                        return null;
                    }

                    lines = [];
                    if (Peek(json, ref at) == ']')
                    {
                        at++;
                    }
                    else
                    {
                        while (true)
                        {
                            if (Peek(json, ref at) != '"' || !TryString(json, ref at, ref chars, out var line))
                            {
                                return null;
                            }

                            if (lines.Count == maxSamples)
                            {
                                throw PredictBody.TooMany(maxSamples);
                            }

                            lines.Add(line);
                            var next = Peek(json, ref at);
                            at++;
                            if (next == ']')
                            {
                                break;
                            }

                            if (next != ',')
                            {
                                return null;
                            }
                        }
                    }
                }
                else if (name.StartsWith("\"variant\""u8) && !sawVariant)
                {
                    at += 9;
                    sawVariant = true;
                    if (!Expect(json, ref at, (byte)':'))
                    {
                        return null;
                    }

                    if (!TryNull(json, ref at) && (Peek(json, ref at) != '"' || !TryString(json, ref at, ref chars, out variant)))
                    {
                        return null;
                    }
                }
                else if (name.StartsWith("\"samples\""u8) && !sawSamples)
                {
                    // "samples": null, as a serializer writes an unset member; samples themselves
                    // go to the general reader.
                    at += 9;
                    sawSamples = true;
                    if (!Expect(json, ref at, (byte)':') || !TryNull(json, ref at))
                    {
                        return null;
                    }
                }
                else
                {
                    return null;
                }

                var separator = Peek(json, ref at);
                at++;
                if (separator == '}')
                {
                    break;
                }

                if (separator != ',' || Peek(json, ref at) != '"')
                {
                    return null;
                }
            }

            SkipWhitespace(json, ref at);
            return at == json.Length && lines is not null ? new PredictRequest { Lines = lines, Variant = variant } : null;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>A string at <paramref name="at"/> (its opening quote), ASCII with the short escapes.</summary>
    private static bool TryString(ReadOnlySpan<byte> json, ref int at, ref char[] chars, out string value)
    {
        value = string.Empty;
        var end = json.Length;
        var i = at + 1;
        var length = 0;
        while (true)
        {
            if (i >= end)
            {
                return false;
            }

            var b = json[i++];
            if (b == '"')
            {
                break;
            }

            if (b < 0x20 || b > 0x7F)
            {
                return false;
            }

            if (b == '\\')
            {
                if (i >= end)
                {
                    return false;
                }

                b = json[i++] switch
                {
                    (byte)'"' => (byte)'"',
                    (byte)'\\' => (byte)'\\',
                    (byte)'/' => (byte)'/',
                    (byte)'b' => (byte)'\b',
                    (byte)'f' => (byte)'\f',
                    (byte)'n' => (byte)'\n',
                    (byte)'r' => (byte)'\r',
                    (byte)'t' => (byte)'\t',
                    _ => 0, // \u and anything invalid: the general reader's
                };
                if (b == 0)
                {
                    return false;
                }
            }

            if (length == chars.Length)
            {
                var larger = ArrayPool<char>.Shared.Rent(chars.Length * 2);
                chars.AsSpan().CopyTo(larger);
                ArrayPool<char>.Shared.Return(chars);
                chars = larger;
            }

            chars[length++] = (char)b;
        }

        at = i;
        value = new string(chars, 0, length);
        return true;
    }

    /// <summary>Skips whitespace; true and past it when a <c>null</c> literal comes next.</summary>
    private static bool TryNull(ReadOnlySpan<byte> json, ref int at)
    {
        if (Peek(json, ref at) != 'n' || !json[at..].StartsWith("null"u8))
        {
            return false;
        }

        at += 4;
        return true;
    }

    /// <summary>Skips whitespace; true and past it when the next byte is <paramref name="what"/>.</summary>
    private static bool Expect(ReadOnlySpan<byte> json, ref int at, byte what)
    {
        if (Peek(json, ref at) != what)
        {
            return false;
        }

        at++;
        return true;
    }

    /// <summary>Skips whitespace; the next byte, or -1 at the end.</summary>
    private static int Peek(ReadOnlySpan<byte> json, ref int at)
    {
        SkipWhitespace(json, ref at);
        return at < json.Length ? json[at] : -1;
    }

    private static void SkipWhitespace(ReadOnlySpan<byte> json, ref int at)
    {
        while (at < json.Length && json[at] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            at++;
        }
    }
}
