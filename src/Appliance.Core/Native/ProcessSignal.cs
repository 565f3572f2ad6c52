namespace Appliance.Core.Native;

/// <summary>Sends SIGTERM (a graceful stop: roles drain and exit 0), which .NET's Process.Kill
/// cannot — it sends SIGKILL.</summary>
internal static class ProcessSignal
{
    private const int SigTerm = 15;

    public static bool Terminate(int pid) => LibC.kill(pid, SigTerm) == 0;
}
