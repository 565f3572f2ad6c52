using System.Security.Cryptography;
using System.Text;
using Appliance.Core.Formats;
using Microsoft.AspNetCore.Http;

namespace Appliance.Core.Hosting;

/// <summary>
/// The shared secret of the control plane, read from a file (trailing whitespace ignored). A
/// mutating request must carry <c>Authorization: Bearer &lt;token&gt;</c>; the comparison takes the
/// same time whatever the guess.
/// </summary>
public sealed class BearerToken
{
    private readonly byte[] _token;

    private BearerToken(byte[] token)
    {
        _token = token;
    }

    public static BearerToken FromFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read token file: {e.Message}");
        }

        if (text.Length < 16)
        {
            throw new InputFormatException(path, "offset 0", "token must be at least 16 characters");
        }

        return new BearerToken(Encoding.UTF8.GetBytes(text));
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
