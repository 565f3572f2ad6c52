using System.Text.RegularExpressions;
using Appliance.Core.Formats;

namespace Appliance.Core.Control.Transfer;

/// <summary>
/// Where the transfer reads donefiles and inputs: a local directory, or an http(s):// address
/// (fetched through HttpClient and kept under tmp_address/../donefile like the original). A remote
/// input directory is mirrored from its HTML index (the links it lists, not recursing), as the
/// original's <c>wget -r -np -nd</c> did.
/// </summary>
internal sealed partial class DonefileSource(TransferOptions options, HttpClient http)
{
    /// <summary>A donefile holds a line per version; anything near this size is not one.</summary>
    public const int MaxDonefileBytes = 64 << 20;

    /// <summary>An input directory's HTML listing.</summary>
    public const int MaxListingBytes = 16 << 20;

    /// <summary>A donefile or listing must arrive whole within this; an input download may take
    /// as long as it keeps receiving, but not this long without a byte.</summary>
    private TimeSpan FetchTimeout => TimeSpan.FromSeconds(options.FetchTimeoutSeconds);

    private bool IsRemote => IsRemoteAddress(options.DonefileAddress);

    /// <summary>An http(s):// donefile address (fetched), as opposed to a local directory (read, and watched).</summary>
    public static bool IsRemoteAddress(string address) =>
        address.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || address.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    public async Task<(IReadOnlyList<DonefileEntry> Entries, string Path)> ReadAsync(string name, List<InputFormatException> errors, CancellationToken cancellationToken)
    {
        if (!IsRemote)
        {
            var path = Path.Combine(options.DonefileAddress, name);
            return (File.Exists(path) ? DonefileReader.Read(path, errors) : [], path);
        }

        var url = options.DonefileAddress.TrimEnd('/') + "/" + name;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(FetchTimeout);
        string text;
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return ([], url);
            }

            response.EnsureSuccessStatusCode();
            text = System.Text.Encoding.UTF8.GetString(await CappedBody.ReadAsync(response.Content, MaxDonefileBytes, url, timeout.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"GET {url}: no complete answer within {FetchTimeout.TotalSeconds:F0} s (fetch_timeout_seconds)");
        }

        var copy = Path.Combine(options.TmpAddress, "..", "donefile");
        Directory.CreateDirectory(copy);
        AtomicFile.Write(Path.Combine(copy, name), System.Text.Encoding.UTF8.GetBytes(text));
        return (DonefileReader.Parse(text, url, errors), url);
    }

    /// <summary>A local directory holding the version's input: the input itself if local,
    /// otherwise a mirror under tmp_address/../input/ (reused when complete).</summary>
    public async Task<string> ResolveInputAsync(VersionRecord version, CancellationToken cancellationToken)
    {
        var input = version.Input;
        if (!input.Contains("://", StringComparison.Ordinal) && !IsRemote)
        {
            return input;
        }

        Uri url;
        try
        {
            url = input.Contains("://", StringComparison.Ordinal) ? new Uri(input) : new Uri(new Uri(options.DonefileAddress), input);
        }
        catch (UriFormatException e)
        {
            throw new InvalidOperationException($"the donefile's input '{input}' for version {version.Label} is not a URL: {e.Message}", e);
        }
        var target = Path.GetFullPath(Path.Combine(options.TmpAddress, "..", "input", $"{options.DictName}_{version.Version}_{version.Depend}"));
        if (Directory.Exists(target))
        {
            return target;
        }

        var temporary = target + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, true);
        }

        Directory.CreateDirectory(temporary);
        using (var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false))
        {
            response.EnsureSuccessStatusCode();
            if (response.Content.Headers.ContentType?.MediaType == "text/html")
            {
                var listing = System.Text.Encoding.UTF8.GetString(await CappedBody.ReadAsync(response.Content, MaxListingBytes, url.ToString(), cancellationToken).ConfigureAwait(false));
                var directory = url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
                foreach (Match link in Href().Matches(listing))
                {
                    var name = Uri.UnescapeDataString(link.Groups[1].Value);
                    if (name.StartsWith('?') || name.StartsWith('/') || name.StartsWith('.') || name.EndsWith('/') || name.Contains("://", StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal))
                    {
                        continue;
                    }

                    await DownloadFileAsync(new Uri(directory, link.Groups[1].Value), Path.Combine(temporary, name), cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                await CopyAsync(response.Content, Path.Combine(temporary, "part-00000"), url, cancellationToken).ConfigureAwait(false);
            }
        }

        Directory.Move(temporary, target);
        return target;
    }

    private async Task DownloadFileAsync(Uri url, string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        await CopyAsync(response.Content, path, url, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Copies a download to a file; a source silent for the fetch timeout is an error.</summary>
    private async Task CopyAsync(HttpContent content, string path, Uri url, CancellationToken cancellationToken)
    {
        await using var source = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var file = File.Create(path);
        await BoundedCopy.CopyAsync(source, file, url.ToString(), FetchTimeout, (long.MaxValue, "the"), 0, null, cancellationToken).ConfigureAwait(false);
    }

    [GeneratedRegex("href=\"([^\"]+)\"", RegexOptions.IgnoreCase)]
    private static partial Regex Href();
}
