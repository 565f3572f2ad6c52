namespace Appliance.Core.Tests.Architecture;

/// <summary>Appliance.Core has no consumer outside this repository: the binary, the tests and the
/// benchmarks see it through InternalsVisibleTo, so nothing in it is public — a type's visibility
/// never has to be read as "someone else depends on this".</summary>
public sealed class VisibilityTests
{
    [Fact]
    public void NothingInTheCoreIsPublic() =>
        Assert.Empty(typeof(Appliance.Core.Storage.ValueCodec).Assembly.GetExportedTypes().Select(t => t.FullName));
}
