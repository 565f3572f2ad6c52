namespace Appliance.Cli;

/// <summary>A command line that cannot be run: the message names the flag at fault. Exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
