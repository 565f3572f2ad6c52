namespace Appliance.Core.Buffers;

/// <summary>
/// Native blocks for large requests and replies, kept for reuse up to a fixed total. Fresh
/// memory costs a page fault per 4 KiB on first touch (a 60 MiB frame into new memory took 0.6 s
/// on a virtual machine, against 0.05 s into reused memory), so a few blocks are kept; anything
/// beyond <see cref="MaxCachedBytes"/> is freed at once, so after a flood of large frames the
/// process holds at most that much more than before.
/// </summary>
internal static class LargeBlockCache
{
    public const long MaxCachedBytes = 256L << 20;

    private static readonly List<NativeBlock> Cached = [];
    private static long _cachedBytes;

    /// <summary>Blocks kept for reuse.</summary>
    public static int CachedBlocks
    {
        get
        {
            lock (Cached)
            {
                return Cached.Count;
            }
        }
    }

    public static long CachedBytes
    {
        get
        {
            lock (Cached)
            {
                return _cachedBytes;
            }
        }
    }

    /// <summary>Native blocks some request, reply or connection holds right now (not the cache's):
    /// 0 on a quiet server. One that stays above 0 is a block no path returned.</summary>
    public static long Outstanding => NativeBlock.Live - CachedBlocks;

    public static long OutstandingBytes => NativeBlock.LiveBytes - CachedBytes;

    /// <summary>A block of at least <paramref name="size"/> bytes (a cached one if it is at most
    /// twice that size, else a new one).</summary>
    public static NativeBlock Rent(int size)
    {
        lock (Cached)
        {
            var best = -1;
            for (var i = 0; i < Cached.Count; i++)
            {
                var length = Cached[i].Length;
                if (length >= size && length / 2 <= size && (best < 0 || length < Cached[best].Length))
                {
                    best = i;
                }
            }

            if (best >= 0)
            {
                var block = Cached[best];
                Cached.RemoveAt(best);
                _cachedBytes -= block.Length;
                return block;
            }
        }

        return new NativeBlock(size);
    }

    /// <summary>Keeps the block for reuse if there is room, else frees it.</summary>
    public static void Return(NativeBlock block)
    {
        lock (Cached)
        {
            if (_cachedBytes + block.Length <= MaxCachedBytes)
            {
                Cached.Add(block);
                _cachedBytes += block.Length;
                return;
            }
        }

        ((IDisposable)block).Dispose();
    }
}
