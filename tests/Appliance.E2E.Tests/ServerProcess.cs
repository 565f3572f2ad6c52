using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Appliance.E2E.Tests;

/// <summary>A <c>cube run</c> process on 127.0.0.1 with OS-chosen ports, read from its "ready" log
/// line. Disposing kills it if it is still running.</summary>
public sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<(int, int)> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process)
    {
        _process = process;
    }

    public int DataPort { get; private set; }

    public int HttpPort { get; private set; }

    /// <summary>The RESP port, when the process opened one (--resp-port).</summary>
    public int RespPort { get; private set; }

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static ServerProcess StartServer(string dataDir, string dict, int shard, params string[] extra) =>
        Start(["run", "--roles", "server", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dataDir, "--dict", dict, "--shard", shard.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);

    public static ServerProcess Start(params string[] args) => StartLimited(null, args);

    /// <summary>Starts with extra environment variables (e.g. systemd's NOTIFY_SOCKET).</summary>
    public static ServerProcess StartWithEnvironment(IReadOnlyDictionary<string, string> environment, params string[] args) => StartLimited(null, args, environment);

    /// <summary>With <paramref name="fileSizeLimitKb"/>, cube runs under <c>ulimit -f</c> with
    /// SIGXFSZ ignored: every write past the limit fails as on a full disk (EFBIG).</summary>
    public static ServerProcess StartLimited(int? fileSizeLimitKb, params string[] args) => StartLimited(fileSizeLimitKb, args, null);

    private static ServerProcess StartLimited(int? fileSizeLimitKb, string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(fileSizeLimitKb is null ? CubeProcess.BinaryPath : "/bin/bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (fileSizeLimitKb is { } limit)
        {
            foreach (var a in new[] { "-c", $"trap '' XFSZ; ulimit -f {limit}; exec \"$0\" \"$@\"", CubeProcess.BinaryPath })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var server = new ServerProcess(Process.Start(info)!);
        server._process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        server._process.EnableRaisingEvents = true;
        server._process.Exited += (_, _) => server._ready.TrySetException(new InvalidOperationException($"cube exited with {server._process.ExitCode} before it was ready:\n{server.Output}"));
        if (!server._ready.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            server.Dispose();
            throw new TimeoutException($"cube was not ready within 30 s:\n{server.Output}");
        }

        (server.DataPort, server.HttpPort) = server._ready.Task.Result;
        return server;
    }

    /// <summary>Sends <paramref name="signal"/> by pid, only while the process is ours: once it has
    /// exited and been reaped its pid can belong to anything (pid_max is 32768 here and the suite
    /// starts thousands of processes), and a stray KILL would end an unrelated test's script.</summary>
    public void Signal(string signal)
    {
        if (_process.HasExited)
        {
            return;
        }

        _stopped = signal == "STOP" || (_stopped && signal != "CONT");
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Waits for the exit and then for the last output lines (the timed overload alone
    /// returns before the asynchronous readers have seen them).</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }

        _process.WaitForExit();
        return true;
    }

    private bool _disposed;
    private bool _stopped;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            if (_stopped)
            {
                Signal("CONT");
            }

            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"RESP \(Redis protocol\) port (\d+)")]
    private static partial Regex RespLine();

    [GeneratedRegex(@"ready: (?:data port (\d+)|no data port), http port (\d+)")]
    private static partial Regex ReadyLine();

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (RespLine().Match(line) is { Success: true } resp)
        {
            RespPort = int.Parse(resp.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        var match = ReadyLine().Match(line);
        if (match.Success)
        {
            _ready.TrySetResult((match.Groups[1].Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0, int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }
}
