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
        var run = ExternalTool.Run(BinaryPath, "(scripts/publish.sh)", args, stdin, workingDirectory, TimeSpan.FromMinutes(2));
        return new Result(run.ExitCode, run.Stdout, run.Stderr);
    }

    public static Result RunWithEnvironment(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var run = ExternalTool.Run(BinaryPath, "(scripts/publish.sh)", args, null, workingDirectory, TimeSpan.FromMinutes(2), environment);
        return new Result(run.ExitCode, run.Stdout, run.Stderr);
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
