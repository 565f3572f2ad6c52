using Appliance.Core.Control.Transfer;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>The donefile watcher: base.txt and patch.txt wake the transfer, other files do not; a
/// directory that appears later is watched from the next poll; http donefiles are polled only; a
/// missing directory is logged once, not at every poll.</summary>
public sealed class DonefileWatcherTests
{
    private static bool WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(20);
        }

        return false;
    }

    /// <summary>inotify watches an inode: a donefile directory deleted and made again left the
    /// watcher on nothing while /status still said inotify, and new lines waited for the poll.</summary>
    [Fact]
    public void ADirectoryReplacedIsWatchedAgainWithoutAPoll()
    {
        using var dir = new TempDirectory();
        var donefiles = dir.Combine("done");
        Directory.CreateDirectory(donefiles);
        var wakes = 0;
        using var watcher = new DonefileWatcher(donefiles, () => Interlocked.Increment(ref wakes));
        Assert.Null(watcher.EnsureStarted()); // the only poll in this test

        Directory.Delete(donefiles, recursive: true);
        Directory.CreateDirectory(donefiles);
        Assert.True(WaitFor(() => Volatile.Read(ref wakes) > 0), "the replaced directory did not re-arm the watcher");
        Thread.Sleep(300); // the delete's and create's own wake-ups
        Assert.Equal($"inotify on {donefiles}", watcher.State);

        Volatile.Write(ref wakes, 0);
        File.AppendAllText(Path.Combine(donefiles, "base.txt"), "{\"id\": \"1\", \"key\": \"1\", \"input\": \"/x\"}\n");
        Assert.True(WaitFor(() => Volatile.Read(ref wakes) > 0), "a line in the new directory woke nothing");
    }

    /// <summary>Every poll compares the watched inode with the path's (the parent may not be
    /// watchable): a replaced directory is watched again from the next poll.</summary>
    [Fact]
    public void APollNoticesAReplacedDirectory()
    {
        using var dir = new TempDirectory();
        var donefiles = dir.Combine("done");
        Directory.CreateDirectory(donefiles);
        var wakes = 0;
        using var watcher = new DonefileWatcher(donefiles, () => Interlocked.Increment(ref wakes));
        watcher.EnsureStarted();
        Directory.Move(donefiles, dir.Combine("old"));
        Directory.CreateDirectory(donefiles);
        Assert.Null(watcher.EnsureStarted());
        Assert.Equal($"inotify on {donefiles}", watcher.State);
        Thread.Sleep(300);
        Volatile.Write(ref wakes, 0);
        File.AppendAllText(Path.Combine(donefiles, "patch.txt"), "x\n");
        Assert.True(WaitFor(() => Volatile.Read(ref wakes) > 0));
    }

    [Theory]
    [InlineData("base.txt")]
    [InlineData("patch.txt")]
    public void AnAppendedLineWakesTheTransfer(string name)
    {
        using var dir = new TempDirectory();
        var wakes = 0;
        using var watcher = new DonefileWatcher(dir.Path, () => Interlocked.Increment(ref wakes));
        Assert.Null(watcher.EnsureStarted());
        Assert.Equal($"inotify on {dir.Path}", watcher.State);

        File.AppendAllText(dir.Combine(name), "{\"id\": \"1\", \"key\": \"1\", \"input\": \"/x\"}\n");
        Assert.True(WaitFor(() => Volatile.Read(ref wakes) > 0), $"no wake-up for {name}");
    }

    [Fact]
    public void OtherFilesDoNotWakeIt()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("base.txt"), string.Empty); // its append below is then a modify only
        var wakes = 0;
        using var watcher = new DonefileWatcher(dir.Path, () => Interlocked.Increment(ref wakes));
        watcher.EnsureStarted();
        File.WriteAllText(dir.Combine("base.txt.tmp"), "x");
        File.WriteAllText(dir.Combine("notes.txt"), "x");

        // A base.txt event after them: once it has arrived, the earlier ones have too (inotify
        // delivers in order), and only this one may have counted.
        File.AppendAllText(dir.Combine("base.txt"), "x");
        Assert.True(WaitFor(() => Volatile.Read(ref wakes) > 0));
        Thread.Sleep(200);
        Assert.InRange(Volatile.Read(ref wakes), 1, 2); // the other two files' events would add at least 4
    }

    [Fact]
    public void ADirectoryCreatedLaterIsWatchedFromTheNextPoll()
    {
        using var dir = new TempDirectory();
        var donefiles = dir.Combine("done");
        var wakes = 0;
        using var watcher = new DonefileWatcher(donefiles, () => Interlocked.Increment(ref wakes));

        var first = watcher.EnsureStarted();
        Assert.Contains("does not exist yet", first, StringComparison.Ordinal);
        Assert.Null(watcher.EnsureStarted()); // said once, not at every poll
        Assert.StartsWith("polling only", watcher.State, StringComparison.Ordinal);

        Directory.CreateDirectory(donefiles);
        Assert.Null(watcher.EnsureStarted());
        Assert.Equal($"inotify on {donefiles}", watcher.State);
        File.AppendAllText(Path.Combine(donefiles, "base.txt"), "x\n");
        Assert.True(WaitFor(() => Volatile.Read(ref wakes) > 0));
    }

    [Theory]
    [InlineData("http://files:8080/done")]
    [InlineData("HTTPS://files/done")]
    public void HttpDonefilesArePolledOnly(string address)
    {
        using var watcher = new DonefileWatcher(address, () => throw new InvalidOperationException("no wake-ups for http"));
        Assert.False(watcher.IsLocal);
        Assert.Null(watcher.EnsureStarted());
        Assert.Equal("polling only (http donefile)", watcher.State);
    }
}
