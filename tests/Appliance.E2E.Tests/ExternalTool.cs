using System.Diagnostics;

namespace Appliance.E2E.Tests;

/// <summary>Runs a program no one here wrote (redis-cli, promtool …) with a time limit; a missing
/// one fails the test with the Debian package that provides it.</summary>
internal static class ExternalTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string program, string package, IEnumerable<string> args, string? stdin = null, string? workingDirectory = null, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var info = new ProcessStartInfo(program) { RedirectStandardInput = stdin is not null, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? string.Empty };
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
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000); // the pipes close with the process: what it wrote so far
                throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in {limit.TotalSeconds:F0} s; its output so far:\n{Tail(stdout)}\n{Tail(stderr)}");
            }

            return new Result(process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    /// <summary>The last 4,000 characters a pipe delivered, or a note that it had not closed.</summary>
    private static string Tail(Task<string> pipe) =>
        pipe.Wait(TimeSpan.FromSeconds(5)) ? pipe.Result[Math.Max(0, pipe.Result.Length - 4000)..] : "(the pipe had not closed)";
}
