using System.IO.Hashing;
using System.Net.Http.Headers;
using System.Net;
using Appliance.Core.Formats;
using Appliance.Core.Hosting;
using Appliance.Core.Storage;

namespace Appliance.Core.Control.Agent;

/// <summary>
/// Fetches one shard package from the transfer: the manifest, then each file into
/// <c>&lt;file&gt;.part</c>, resuming an interrupted download with an HTTP range request, and
/// verifying the whole file's XxHash128 against the manifest before it takes its final name. A
/// file that fails verification is deleted, so the next try starts clean.
/// </summary>
internal sealed class PackageDownloader(HttpClient http, Uri origin, BearerToken token, TimeSpan idleTimeout)
{
    /// <summary>A manifest is a few hundred bytes; anything much larger is not one.</summary>
    public const int MaxManifestBytes = 1 << 20;

    public long ResumedBytes { get; private set; }

    public long Bytes { get; private set; }

    public long TotalBytes { get; private set; }

    public async Task<ShardManifest> FetchManifestAsync(string relative, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Get, relative + "/" + ShardLayout.ManifestFileName);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new IOException($"GET {request.RequestUri}: HTTP {(int)response.StatusCode}");
        }

        byte[] bytes;
        using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            idle.CancelAfter(idleTimeout);
            bytes = await CappedBody.ReadAsync(response.Content, MaxManifestBytes, request.RequestUri!.ToString(), idle.Token).ConfigureAwait(false);
        }

        var manifest = System.Text.Json.JsonSerializer.Deserialize(bytes, StorageJsonContext.Default.ShardManifest)
            ?? throw new IOException($"GET {request.RequestUri}: empty manifest");
        Validate(manifest, request.RequestUri!.ToString());
        return manifest;
    }

    /// <summary>A manifest from the network is checked before anything it says is used: every field
    /// present, file names exactly those a package has (no name becomes a path elsewhere), lineage
    /// entries version ids, sizes not negative.</summary>
    private static void Validate(ShardManifest m, string url)
    {
        static IOException Bad(string url, string field, string why) => new($"manifest {url}: field {field}: {why}");
        if (m.Dict is null || m.Version is null || m.Base is null || m.Codec is null)
        {
            throw Bad(url, m.Dict is null ? "dict" : m.Version is null ? "version" : m.Base is null ? "base" : "codec", "missing");
        }

        foreach (var (digest, field, name) in new[] { (m.Index, "index", ShardLayout.IndexFileName), (m.Values, "values", ShardLayout.ValuesFileName) })
        {
            if (digest is null)
            {
                throw Bad(url, field, "missing");
            }

            if (digest.File != name || digest.Bytes < 0 || digest.Xxh128 is null)
            {
                throw Bad(url, field, $"'{digest.File}' of {digest.Bytes} bytes is not the package's {name}");
            }
        }

        if (m.Patches is null || m.Patches.Any(p => !VersionId.IsValid(p)))
        {
            throw Bad(url, "patches", "must be a list of version ids");
        }
    }

    /// <summary>Downloads <paramref name="file"/> into <paramref name="directory"/>, resuming any
    /// <c>.part</c> left by an earlier try, and verifies it.</summary>
    public async Task DownloadAsync(string relative, FileDigest file, string directory, CancellationToken cancellationToken)
    {
        var final = Path.Combine(directory, file.File);
        if (File.Exists(final) && new FileInfo(final).Length == file.Bytes && Hash(final) == file.Xxh128)
        {
            Bytes += file.Bytes;
            return;
        }

        var part = final + ".part";
        var have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (have > file.Bytes)
        {
            File.Delete(part);
            have = 0;
        }

        ResumedBytes += have;
        Bytes += have;
        if (have < file.Bytes)
        {
            using var request = Request(HttpMethod.Get, relative + "/" + file.File);
            if (have > 0)
            {
                request.Headers.Range = new RangeHeaderValue(have, null);
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.OK && have > 0)
            {
                // The origin ignored the range: start over.
                Bytes -= have;
                ResumedBytes -= have;
                have = 0;
            }
            else if (!response.IsSuccessStatusCode)
            {
                throw new IOException($"GET {request.RequestUri}: HTTP {(int)response.StatusCode}");
            }

            await using var source = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using var target = new FileStream(part, have > 0 ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            // The manifest's size is the limit: a transfer sending more is cut off, one that
            // stalls is dropped after the idle timeout (the next try resumes).
            await BoundedCopy.CopyAsync(source, target, request.RequestUri!.ToString(), idleTimeout, (file.Bytes, "the manifest's"), have, read => Bytes += read, cancellationToken).ConfigureAwait(false);
        }

        var length = new FileInfo(part).Length;
        if (length != file.Bytes)
        {
            throw new IOException($"{file.File}: got {length} bytes, the manifest says {file.Bytes}; will resume");
        }

        var actual = Hash(part);
        if (actual != file.Xxh128)
        {
            File.Delete(part);
            throw new IOException($"{file.File}: checksum mismatch: XxHash128 is {actual}, the manifest says {file.Xxh128}; the package is corrupt and was refused");
        }

        File.Move(part, final, overwrite: true);
    }

    public void Expect(long total) => TotalBytes += total;

    private HttpRequestMessage Request(HttpMethod method, string relative)
    {
        var request = new HttpRequestMessage(method, new Uri(origin, "packages/" + relative));
        request.Headers.TryAddWithoutValidation("Authorization", token.HeaderValue);
        return request;
    }

    private static string Hash(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        var hash = new XxHash128();
        hash.Append(stream);
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }
}
