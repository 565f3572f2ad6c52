namespace Appliance.Core.Storage;

/// <summary>
/// The live view of one shard and the way it changes. A new version is loaded and verified beside
/// the live one, then switched in with one atomic exchange; readers that started on the old view
/// finish on it; the old view is unmapped when its last reader leaves. A failed load changes nothing.
/// </summary>
public sealed class ShardStore : IDisposable
{
    private readonly object _switchLock = new();
    private ShardView? _live;

    public ShardStore(bool inMemory)
    {
        InMemory = inMemory;
    }

    public bool InMemory { get; }

    /// <summary>The live view for a moment; use <see cref="Acquire"/> to read through it.</summary>
    public ShardView? Live => Volatile.Read(ref _live);

    public long Switches { get; private set; }

    public ShardLease Acquire()
    {
        while (true)
        {
            var view = Volatile.Read(ref _live);
            if (view is null)
            {
                return new ShardLease(null);
            }

            if (view.TryAddRef())
            {
                return new ShardLease(view);
            }

            // The view was retired and drained between the read and the AddRef: the field
            // already holds its successor, read again.
        }
    }

    /// <summary>Makes a base package (and then the given deltas, in order) the live view.</summary>
    public ShardView LoadBase(string baseDirectory, IEnumerable<string>? deltaDirectories = null)
    {
        var view = Stack(ShardView.OfBase, baseDirectory);
        try
        {
            foreach (var delta in deltaDirectories ?? [])
            {
                var next = Stack(view.WithDelta, delta);
                view.Release();
                view = next;
            }
        }
        catch
        {
            view.Release();
            throw;
        }

        Activate(view);
        return view;
    }

    /// <summary>Puts a delta on top of the live view. Its base must be the live base.</summary>
    public ShardView ApplyDelta(string deltaDirectory)
    {
        lock (_switchLock)
        {
            var live = _live ?? throw new InvalidOperationException($"delta {deltaDirectory} cannot be applied: no base is live");
            var next = Stack(live.WithDelta, deltaDirectory);
            Activate(next);
            return next;
        }
    }

    /// <summary>Switches to <paramref name="next"/> (the store takes over the caller's reference).</summary>
    public void Activate(ShardView next)
    {
        lock (_switchLock)
        {
            var old = Interlocked.Exchange(ref _live, next);
            Switches++;
            old?.Release();
        }
    }

    public void Dispose()
    {
        lock (_switchLock)
        {
            Interlocked.Exchange(ref _live, null)?.Release();
        }
    }

    private ShardView Stack(Func<MappedShard, ShardView> compose, string directory)
    {
        var package = MappedShard.Open(directory, InMemory);
        try
        {
            return compose(package);
        }
        finally
        {
            // The view holds its own reference; drop the opener's.
            package.Release();
        }
    }
}
