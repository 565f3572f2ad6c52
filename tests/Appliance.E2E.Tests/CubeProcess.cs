using System.Diagnostics;

namespace Appliance.E2E.Tests;

/// <summary>Runs the published <c>cube</c> binary (path in $CUBE_BIN, set by scripts/test.sh) as a
/// user would, with a hard time limit.</summary>
internal static class CubeProcess
{
    public static string BinaryPath
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("CUBE_BIN");
            if (string.IsNullOrEmpty(path))
            {
                path = Path.Combine(TestData.RepositoryRoot, "artifacts", "dist", "cube");
            }

            if (!File.Exists(path))
            {
                throw new InvalidOperationException($"cube binary not found at {path}: run ./scripts/publish.sh or ./scripts/test.sh");
            }

            return path;
        }
    }

    public static Result Run(string workingDirectory, params string[] args) => RunWithInput(workingDirectory, null, args);

    public static Result RunWithInput(string workingDirectory, string? stdin, params string[] args)
    {
        var info = new ProcessStartInfo(BinaryPath)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cube {string.Join(' ', args)} did not finish in 2 minutes");
        }

        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] Lines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public Result Ok()
        {
            Assert.True(ExitCode == 0, $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}");
            return this;
        }
    }
}
