namespace Appliance.Core.Storage;

/// <summary>
/// A reference count that starts at 1 (the owner's) and runs <see cref="OnDrained"/> exactly once
/// when it reaches 0. Readers take a reference with <see cref="TryAddRef"/>, which fails once the
/// count has reached 0, so a retired object is never resurrected.
/// </summary>
internal abstract class RefCounted
{
    private int _references = 1;

    public int References => Volatile.Read(ref _references);

    public bool TryAddRef()
    {
        while (true)
        {
            var current = Volatile.Read(ref _references);
            if (current == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left == 0)
        {
            OnDrained();
        }
        else if (left < 0)
        {
            throw new InvalidOperationException($"{GetType().Name} released more often than referenced");
        }
    }

    protected abstract void OnDrained();
}
