using System.Security.Cryptography;
using System.Text;
using Appliance.Core.Formats;
using Microsoft.AspNetCore.Http;

namespace Appliance.Core.Hosting;

/// <summary>
/// The shared secret of the control plane, read from a file (one line; its newline ignored). A
/// mutating request must carry <c>Authorization: Bearer &lt;token&gt;</c>; the comparison takes the
/// same time whatever the guess.
/// </summary>
internal sealed class BearerToken
{
    private readonly byte[] _token;

    private BearerToken(byte[] token)
    {
        _token = token;
    }

    /// <summary>Reads the secret: one line of printable ASCII without spaces, 16 to 4096
    /// characters, a trailing newline allowed. Anything else is refused naming the file and what
    /// is wrong with it — never its content (it may be the secret, or another file's text).</summary>
    public static BearerToken FromFile(string path)
    {
        const string Advice = "a token file holds one line of printable text, 16 to 4096 characters (e.g. `head -c 32 /dev/urandom | base64 -w0 > FILE`)";
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > 8192)
            {
                throw new InputFormatException(path, "offset 0", $"{info.Length} bytes is not a token; {Advice}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read token file: {e.Message}");
        }

        var text = bytes.AsSpan();
        while (text.Length > 0 && text[^1] is (byte)'\n' or (byte)'\r')
        {
            text = text[..^1];
        }

        var lines = 1;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == (byte)'\n')
            {
                lines++;
            }
            else if (text[i] is < 0x21 or > 0x7E)
            {
                if (lines == 1 && text.IndexOf((byte)'\n') < 0)
                {
                    throw new InputFormatException(path, $"offset {i}", $"byte 0x{text[i]:X2} is not printable (a space, tab or control character); {Advice}");
                }
            }
        }

        if (lines > 1)
        {
            throw new InputFormatException(path, "offset 0", $"holds {lines} lines; {Advice} (base64 without -w0 wraps at 76 characters)");
        }

        if (text.Length < 16 || text.Length > 4096)
        {
            throw new InputFormatException(path, "offset 0", $"a token of {text.Length} characters; {Advice}");
        }

        return new BearerToken(text.ToArray());
    }

    public string HeaderValue => "Bearer " + Encoding.UTF8.GetString(_token);

    public bool Accepts(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return false;
        }

        return Accepts(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
    }

    /// <summary>Compares an offered secret (e.g. a RESP AUTH password) in constant time.</summary>
    public bool Accepts(ReadOnlySpan<byte> offered) => CryptographicOperations.FixedTimeEquals(offered, _token);
}
