using System.Diagnostics;

namespace Appliance.E2E.Tests;

/// <summary>Runs a program no one here wrote (redis-cli, promtool …) with a time limit; a missing
/// one fails the test with the Debian package that provides it. A program that outlives its limit
/// is told SIGABRT first, with its children — Python runs with PYTHONFAULTHANDLER set, so every
/// Python process prints all its threads' stacks — and is killed after a few seconds: the
/// timeout's message ends with what each one was waiting for.</summary>
internal static class ExternalTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string program, string package, IEnumerable<string> args, string? stdin = null, string? workingDirectory = null, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var info = new ProcessStartInfo(program) { RedirectStandardInput = stdin is not null, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? string.Empty };
        info.Environment["PYTHONFAULTHANDLER"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{program} is needed (Debian {package}; ./scripts/setup.sh installs it): {e.Message}");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                process.StandardInput.Write(stdin);
                process.StandardInput.Close();
            }

            if (!process.WaitForExit(limit))
            {
                Abort(process.Id);
                process.WaitForExit(5_000);
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000); // the pipes close with the process: what it wrote so far
                throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in {limit.TotalSeconds:F0} s; its output so far:\n{Tail(stdout)}\n{Tail(stderr)}");
            }

            return new Result(process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    /// <summary>SIGABRT to a process and its descendants, children first (found through /proc).</summary>
    private static void Abort(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                // /proc/PID/stat: "PID (comm) STATE PPID …"; comm may hold spaces and parentheses.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[int.Parse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture)] = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or ArgumentException)
            {
                // not a process, or it ended meanwhile
            }
        }

        var tree = new List<int> { root };
        for (var i = 0; i < tree.Count; i++)
        {
            tree.AddRange(parents.Where(p => p.Value == tree[i]).Select(p => p.Key));
        }

        tree.Reverse();
        try
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-ABRT", .. tree.Select(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture))]) { UseShellExecute = false, RedirectStandardError = true });
            kill?.WaitForExit(5_000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // no kill(1): the tree is killed below without its stacks
        }
    }

    /// <summary>The last 16,000 characters a pipe delivered (room for the stacks of a hung
    /// program's processes), or a note that it had not closed.</summary>
    private static string Tail(Task<string> pipe) =>
        pipe.Wait(TimeSpan.FromSeconds(5)) ? pipe.Result[Math.Max(0, pipe.Result.Length - 16_000)..] : "(the pipe had not closed)";
}
