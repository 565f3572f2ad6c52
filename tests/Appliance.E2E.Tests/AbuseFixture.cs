using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Appliance.E2E.Tests;

/// <summary>
/// What the abuse suite shares: one shard of 1M keys × 40-byte rows (a 1M-key MGET answers ~47
/// MB), the real binary's RSS and native blocks read from outside, and the report every attack
/// writes. <c>ABUSE_SECONDS</c> sets how long each sustained attack runs (short in test.sh, longer
/// from <c>bench/abuse.sh</c>); <c>ABUSE_REPORT</c>, when set, is a TSV each attack appends its
/// line to: attack, RSS before and after (MB), native blocks in use after, outcome.
/// </summary>
public sealed class AbuseFixture : IDisposable
{
    public const string Dict = "emb";

    public AbuseFixture()
    {
        Directory = new TempDirectory();
        CubeProcess.Run(Directory.Path, "kv", "gen", "--keys", "1000000", "--dim", "10", "--seed", "17", "--out", "table.txt").Ok();
        CubeProcess.Run(Directory.Path, "build", "--input", "table.txt", "--input-format", "text", "--output", "packages", "--dict", Dict, "--shards", "1", "--version", "100").Ok();
        Keys = File.ReadLines(Directory.Combine("table.txt")).Select(l => l[..l.IndexOfAny([':', '\t'])]).ToArray();
    }

    public TempDirectory Directory { get; }

    public string Packages => Directory.Combine("packages");

    /// <summary>Every key of the table, as decimal text.</summary>
    public string[] Keys { get; }

    /// <summary>How long a sustained attack runs.</summary>
    public static TimeSpan Duration =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("ABUSE_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : 4);

    public static long RssBytes(int pid) =>
        long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    /// <summary>A gauge of the process's /metrics (null when it does not export it).</summary>
    public static double? Metric(int httpPort, string series)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics").Result;
        // A name without labels sums every series of that name (a role adds its own labels).
        var lines = text.Split('\n').Where(l => l.StartsWith(series + " ", StringComparison.Ordinal) || (!series.Contains('{', StringComparison.Ordinal) && l.StartsWith(series + "{", StringComparison.Ordinal))).ToList();
        return lines.Count == 0 ? null : lines.Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>Native blocks a request or connection holds; waits up to 10 s for it to reach 0
    /// (a closed connection's last send may still be failing).</summary>
    public static double? NativeInUse(int httpPort)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        double? value;
        do
        {
            value = Metric(httpPort, "cube_native_blocks{state=\"in_use\"}");
            if (value is null or 0)
            {
                return value;
            }

            Thread.Sleep(100);
        }
        while (DateTime.UtcNow < deadline);
        return value;
    }

    /// <summary>RSS not explained by the native blocks kept for reuse (at most 256 MiB, by design).</summary>
    public static long RssBeyondCache(int pid, int httpPort) =>
        RssBytes(pid) - (long)(Metric(httpPort, "cube_native_block_bytes{state=\"cached\"}") ?? 0);

    /// <summary>RSS that is neither the native blocks kept for reuse nor the managed heap (which
    /// the collector bounds): what a leak of native memory grows.</summary>
    public static long RssBeyondCacheAndHeap(int pid, int httpPort) =>
        RssBeyondCache(pid, httpPort) - (long)(Metric(httpPort, "dotnet_gc_heap_bytes") ?? 0);

    public static void Report(string attack, long rssBefore, long rssAfter, double? nativeInUse, string outcome)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{attack}\t{rssBefore / 1e6:F0}\t{rssAfter / 1e6:F0}\t{(nativeInUse is { } n ? n.ToString(CultureInfo.InvariantCulture) : "-")}\t{outcome}");
        Console.WriteLine("ABUSE " + line);
        if (Environment.GetEnvironmentVariable("ABUSE_REPORT") is { Length: > 0 } path)
        {
            File.AppendAllText(path, line + "\n");
        }
    }

    /// <summary>A RESP array command, as every client library writes it.</summary>
    public static byte[] Resp(params string[] args)
    {
        var text = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args)
        {
            text.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static Socket Connect(int port, int receiveBuffer = 0)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { SendTimeout = 10_000, ReceiveTimeout = 10_000 };
        if (receiveBuffer > 0)
        {
            socket.ReceiveBufferSize = receiveBuffer; // before connect: the window the server sees
        }

        socket.Connect("127.0.0.1", port);
        return socket;
    }

    /// <summary>Sends <paramref name="request"/> over and over without reading a byte of the replies
    /// until <paramref name="duration"/> passes; returns how many were sent whole.</summary>
    public static long PipelineWithoutReading(Socket socket, byte[] request, TimeSpan duration)
    {
        socket.Blocking = false;
        var deadline = DateTime.UtcNow + duration;
        long sent = 0;
        var at = 0;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                at += socket.Send(request, at, request.Length - at, SocketFlags.None);
                if (at == request.Length)
                {
                    (sent, at) = (sent + 1, 0);
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                Thread.Sleep(10); // the server stopped reading: good; keep pushing
            }
        }

        socket.Blocking = true;
        return sent;
    }

    public void Dispose() => Directory.Dispose();
}
