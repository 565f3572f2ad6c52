namespace Appliance.Core.Engine;

/// <summary>The table's rows cannot be the model's embeddings (their width decodes to another
/// dimension). The request is refused with this reason (HTTP 503, NotReady on the binary
/// protocol), never answered with a guess.</summary>
internal sealed class TableMismatchException(string message) : Exception(message);
