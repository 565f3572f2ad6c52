namespace Appliance.Core.Client;

/// <summary>The connection to a replica failed or closed; requests in flight on it failed with it.</summary>
internal sealed class ConnectionFailedException(string message, Exception? inner = null) : Exception(message, inner);
