using Appliance.Cli;
using Appliance.Core.Formats;

namespace Appliance;

/// <summary>
/// <c>cube</c>: one binary, every role and tool. Parses the command, runs it, maps failures to
/// exit codes: 0 success, 1 bad input or a failed operation (message names the file/line/offset),
/// 2 a command line that cannot be run (message names the flag).
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: cube COMMAND [options]    (cube COMMAND --help for each command's options)

        commands:
          build       build shard packages (base or delta) from SequenceFiles or text
          lookup      answer keys from packages on disk
          run         run roles (server, agent, transfer, engine, proxy, all) until SIGTERM; --check validates the configuration
          kv          SequenceFile tools: dump, from-text, gen
          bench       load generators: bench lookup; bench stalls (what a busy CPU loses here)
          features    what the CTR engine computes for Criteo lines (dense values, 26 keys)
          predict     score a Criteo file on an engine: AUC, log loss, QPS, latency
          gen-data    labelled Criteo-format rows from a hidden click model (best AUC known)
          train       train the CTR-DNN; export the table (SequenceFile + donefile) and the model package
          demo        the whole pipeline on this machine: data, training, serving, prediction
          transfer    operator control of a rollout: rollback, pin, unpin, abandon, poll
          conf        conf client: the client's cube.conf from a transfer.conf
          package     package info|verify PATH: what a package holds; a full verification
          status      the cluster at a glance from transfer.conf (exit 1 if a replica is down or behind)
          version     print the version
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        var rest = args[1..];
        if (args[0] is "run" or "bench" && !ValuesOnDisk(rest))
        {
            UseInlineSocketCompletions();
        }

        try
        {
            return args[0] switch
            {
                "build" => BuildCommand.Run(rest),
                "lookup" => LookupCommand.Run(rest),
                "kv" => KvCommand.Run(rest),
                "run" => RunCommand.Run(rest),
                "bench" => BenchCommand.Run(rest),
                "features" => FeaturesCommand.Run(rest),
                "predict" => PredictCommand.Run(rest),
                "gen-data" => GenDataCommand.Run(rest),
                "train" => TrainCommand.Run(rest),
                "demo" => DemoCommand.Run(rest),
                "transfer" => TransferCommand.Run(rest),
                "conf" => ConfCommand.Run(rest),
                "package" => PackageCommand.Run(rest),
                "status" => StatusCommand.Run(rest),
                "version" or "--version" => PrintVersion(),
                _ => throw new UsageException($"unknown command '{args[0]}'\n{Usage}"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"cube {args[0]}: {e.Message}");
            return 2;
        }
        catch (InputFormatException e)
        {
            Console.Error.WriteLine($"cube {args[0]}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"cube {args[0]}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (IsMissingOnnxRuntime(e))
        {
            Console.Error.WriteLine($"cube {args[0]}: the engine needs libonnxruntime.so beside the cube binary ({AppContext.BaseDirectory}); publish.sh puts it there: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The last guard: whatever a command did not foresee ends as one line and exit 1,
            // never as an unhandled exception (exit 134) with a stack trace.
            Console.Error.WriteLine($"cube {args[0]}: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static bool IsMissingOnnxRuntime(Exception e) =>
        e is DllNotFoundException || (e is TypeInitializationException { InnerException: DllNotFoundException });

    /// <summary>
    /// Socket completions run on the epoll threads instead of hopping to the thread pool. Our
    /// data-plane handlers and client continuations never block, and on a loaded core the hop
    /// (a context switch per reply) cost more than the work. An operator can still set
    /// DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0. Must run before the first socket exists.
    /// </summary>
    private static void UseInlineSocketCompletions()
    {
        const string Knob = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
        if (Environment.GetEnvironmentVariable(Knob) is null)
        {
            Environment.SetEnvironmentVariable(Knob, "1");
        }
    }

    /// <summary><c>--values disk</c>: a lookup may wait for the device, so socket completions stay
    /// on the thread pool (a RESP or baidu_std lookup waiting there holds a pool thread, not the
    /// socket thread every other connection needs).</summary>
    private static bool ValuesOnDisk(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--values=disk" || (args[i] == "--values" && i + 1 < args.Length && args[i + 1] == "disk"))
            {
                return true;
            }
        }

        return false;
    }

    private static int PrintVersion()
    {
        var version = typeof(Program).Assembly.GetName().Version;
        Console.Out.WriteLine($"cube {version?.ToString(3)} ({System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier})");
        return 0;
    }
}
