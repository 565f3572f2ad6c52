namespace Appliance.Core.Storage;

/// <summary>A reader's hold on a view: the view (and every mapping it uses) stays valid until
/// the lease is disposed. <see cref="View"/> is null when the store has nothing live yet.</summary>
internal readonly struct ShardLease : IDisposable
{
    internal ShardLease(ShardView? view)
    {
        View = view;
    }

    public ShardView? View { get; }

    public void Dispose() => View?.Release();
}
