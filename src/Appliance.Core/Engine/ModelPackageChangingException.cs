namespace Appliance.Core.Engine;

/// <summary>A model package whose files were read from different exports (an exporter was
/// rewriting it): nothing wrong with the package itself, so it is read again on the next tick
/// rather than counted as a refused package.</summary>
internal sealed class ModelPackageChangingException(string message) : Exception(message);
