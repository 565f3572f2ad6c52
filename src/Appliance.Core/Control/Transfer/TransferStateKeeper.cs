namespace Appliance.Core.Control.Transfer;

/// <summary>
/// The transfer's working state, the one lock that guards it and the copy last saved. Every change
/// goes through <see cref="Change"/> or <see cref="Commit"/> (under the lock); a commit saves the
/// state atomically and publishes the saved bytes, read back, as the new <see cref="Snapshot"/>,
/// so the query endpoints and /status read without a lock and never see a step half done.
/// </summary>
internal sealed class TransferStateKeeper
{
    private readonly TransferStateStore _store;
    private readonly TransferState _state;
    private TransferState _snapshot;

    public TransferStateKeeper(TransferStateStore store, TransferState state)
    {
        _store = store;
        _state = state;
        _snapshot = TransferStateStore.Read(store.Serialize(state));
    }

    /// <summary>The state as last saved: a copy nobody changes.</summary>
    public TransferState Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>Reads the working state under its lock.</summary>
    public T Read<T>(Func<TransferState, T> read)
    {
        lock (_state)
        {
            return read(_state);
        }
    }

    /// <summary>Applies a change under the lock; the next save publishes it.</summary>
    public void Change(Action<TransferState> change)
    {
        lock (_state)
        {
            change(_state);
        }
    }

    /// <summary>Applies a change under the lock, then saves and publishes the state.</summary>
    public void Commit(Action<TransferState> change)
    {
        lock (_state)
        {
            change(_state);
            SaveLocked();
        }
    }

    /// <summary>Applies a change under the lock and saves it if it says it changed something.</summary>
    public T Commit<T>(Func<TransferState, (T Result, bool Changed)> change)
    {
        lock (_state)
        {
            var (result, changed) = change(_state);
            if (changed)
            {
                SaveLocked();
            }

            return result;
        }
    }

    /// <summary>Saves the state as it is now and publishes it.</summary>
    public void Save() => Commit(_ => { });

    private void SaveLocked() => Volatile.Write(ref _snapshot, TransferStateStore.Read(_store.Save(_state)));
}
