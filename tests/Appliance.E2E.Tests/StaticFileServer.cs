using System.Net;
using System.Text;

namespace Appliance.E2E.Tests;

/// <summary>A plain HTTP file server over a directory on 127.0.0.1 (directories get an HTML index
/// of links, like nginx autoindex or python -m http.server), for remote donefiles and inputs.</summary>
public sealed class StaticFileServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string _root;
    private readonly Task _loop;

    public StaticFileServer(string root)
    {
        _root = root;
        Port = ControlPlane.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public long Requests;

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            Interlocked.Increment(ref Requests);
            var relative = Uri.UnescapeDataString(context.Request.Url!.AbsolutePath).TrimStart('/');
            var path = Path.GetFullPath(Path.Combine(_root, relative));
            using var response = context.Response;
            if (!path.StartsWith(_root, StringComparison.Ordinal))
            {
                response.StatusCode = 403;
            }
            else if (Directory.Exists(path))
            {
                var links = string.Concat(Directory.EnumerateFileSystemEntries(path).Select(e => $"<a href=\"{Path.GetFileName(e)}{(Directory.Exists(e) ? "/" : string.Empty)}\">{Path.GetFileName(e)}</a>\n"));
                var html = Encoding.UTF8.GetBytes($"<html><body><a href=\"../\">../</a>\n{links}</body></html>");
                response.ContentType = "text/html";
                await response.OutputStream.WriteAsync(html);
            }
            else if (File.Exists(path))
            {
                response.ContentType = "application/octet-stream";
                var bytes = await File.ReadAllBytesAsync(path);
                await response.OutputStream.WriteAsync(bytes);
            }
            else
            {
                response.StatusCode = 404;
            }
        }
    }
}
