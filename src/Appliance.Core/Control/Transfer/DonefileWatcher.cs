namespace Appliance.Core.Control.Transfer;

/// <summary>
/// Wakes the transfer's loop as soon as a local donefile changes, so a version goes out when its
/// line is appended instead of at the next poll (poll_seconds, 10 by default, was most of a small
/// delta's time to live). inotify through <see cref="FileSystemWatcher"/>; polling stays as it was
/// and is what remains where no event comes (an NFS mount changed from another host, a full
/// inotify table, a directory that does not exist yet): the watcher only ever makes a poll sooner.
/// http(s) donefiles are polled only.
/// <para>inotify watches an inode, not a path: a donefile directory deleted and created again
/// (<c>rm -rf donefile; mkdir donefile</c>) leaves a watcher on nothing that still looks alive. So
/// the parent directory is watched for the donefile directory's name, and every poll compares the
/// watched inode with the path's; either re-arms the watcher on the new directory.</para>
/// </summary>
internal sealed class DonefileWatcher : IDisposable
{
    private readonly string _directory;
    private readonly Action _wake;
    private readonly Lock _lock = new();
    private FileSystemWatcher? _watcher;
    private FileSystemWatcher? _parent;
    private ulong _inode;
    private bool _disposed;

    public DonefileWatcher(string donefileAddress, Action wake)
    {
        _directory = donefileAddress;
        _wake = wake;
        IsLocal = !DonefileSource.IsRemoteAddress(donefileAddress);
        State = IsLocal ? "not started" : "polling only (http donefile)";
    }

    public bool IsLocal { get; }

    /// <summary>For /status: "inotify on DIR", or why polling is all there is.</summary>
    public string State { get; private set; }

    /// <summary>Starts watching if it is not already (called before every poll, so a donefile
    /// directory created after the transfer started is watched from the poll that finds it).
    /// Returns a message when watching could not start, for the log; null otherwise.</summary>
    public string? EnsureStarted()
    {
        if (!IsLocal)
        {
            return null;
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            WatchParent();
            if (Volatile.Read(ref _watcher) is not null)
            {
                if (Native.FileIdentity.Of(_directory) is { } now && now.Inode == _inode)
                {
                    return null;
                }

                // Replaced (or gone) under the watcher: watch what is there now.
                Interlocked.Exchange(ref _watcher, null)?.Dispose();
            }

            return Start();
        }
    }

    /// <summary>The parent told us the donefile directory was created, deleted or renamed.</summary>
    private void Rearm()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            Interlocked.Exchange(ref _watcher, null)?.Dispose();
            Start();
        }

        _wake(); // a new directory may already hold a line
    }

    private void WatchParent()
    {
        if (_parent is not null)
        {
            return;
        }

        var full = Path.GetFullPath(_directory).TrimEnd('/');
        var parent = Path.GetDirectoryName(full);
        if (string.IsNullOrEmpty(parent) || !Directory.Exists(parent))
        {
            return;
        }

        try
        {
            var watcher = new FileSystemWatcher(parent, Path.GetFileName(full))
            {
                NotifyFilter = NotifyFilters.DirectoryName,
                IncludeSubdirectories = false,
            };
            watcher.Created += (_, _) => Rearm();
            watcher.Deleted += (_, _) => Rearm();
            watcher.Renamed += (_, _) => Rearm();
            watcher.Error += (_, _) =>
            {
                lock (_lock)
                {
                    _parent?.Dispose();
                    _parent = null; // watched again from the next poll
                }
            };
            watcher.EnableRaisingEvents = true;
            _parent = watcher;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // the per-poll inode check still re-arms, one poll later
        }
    }

    private string? Start()
    {

        if (!Directory.Exists(_directory))
        {
            var missing = $"polling only: {_directory} does not exist yet";
            return Set(missing);
        }

        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(_directory)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
                IncludeSubdirectories = false,
            };
            watcher.Changed += OnChange;
            watcher.Created += OnChange;
            watcher.Renamed += (_, e) => Wake(e.Name);
            watcher.Error += (_, e) =>
            {
                // e.g. the kernel's event queue overflowed: events were lost, so poll now, and
                // watch again from the next poll (a new watcher re-arms inotify).
                State = $"polling only: watching {_directory} failed ({e.GetException().Message}); trying again at the next poll";
                var failed = Interlocked.Exchange(ref _watcher, null);
                failed?.Dispose();
                _wake();
            };
            watcher.EnableRaisingEvents = true;
            _inode = Native.FileIdentity.Of(_directory)?.Inode ?? 0;
            Volatile.Write(ref _watcher, watcher);
            State = $"inotify on {_directory}";
            return null;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            watcher?.Dispose(); // e.g. the inotify watch limit: tried again at the next poll
            return Set($"polling only: cannot watch {_directory} ({e.Message})");
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _parent?.Dispose();
            _parent = null;
            Interlocked.Exchange(ref _watcher, null)?.Dispose();
        }
    }

    private void OnChange(object sender, FileSystemEventArgs e) => Wake(e.Name);

    private void Wake(string? name)
    {
        if (name is "base.txt" or "patch.txt")
        {
            _wake();
        }
    }

    /// <summary>Records why there is no watcher; returns the message the first time only, so the
    /// log says it once rather than at every poll.</summary>
    private string? Set(string state)
    {
        var changed = state != State;
        State = state;
        return changed ? state : null;
    }
}
