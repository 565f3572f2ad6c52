using System.IO.Hashing;

namespace Appliance.Core.Storage;

/// <summary>Writes a new file through a buffer while hashing it, so a package's checksum costs
/// no second read. <see cref="Complete"/> flushes to disk and returns the digest.</summary>
internal sealed class HashingFileWriter : IDisposable
{
    private readonly FileStream _stream;
    private readonly XxHash128 _hash = new();
    private readonly byte[] _buffer = new byte[1 << 20];
    private int _used;

    public HashingFileWriter(string path)
    {
        Path = path;
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
    }

    public string Path { get; }

    public long Position { get; private set; }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (_used == _buffer.Length)
            {
                FlushBuffer();
            }

            var n = Math.Min(bytes.Length, _buffer.Length - _used);
            bytes[..n].CopyTo(_buffer.AsSpan(_used));
            _used += n;
            Position += n;
            bytes = bytes[n..];
        }
    }

    /// <summary>Returns a writable span of exactly <paramref name="length"/> bytes (≤ 1 MiB) at the current position.</summary>
    public Span<byte> Reserve(int length)
    {
        if (_buffer.Length - _used < length)
        {
            FlushBuffer();
        }

        var span = _buffer.AsSpan(_used, length);
        _used += length;
        Position += length;
        return span;
    }

    public FileDigest Complete()
    {
        FlushBuffer();
        _stream.Flush(flushToDisk: true);
        return new FileDigest(System.IO.Path.GetFileName(Path), Position, Convert.ToHexStringLower(_hash.GetCurrentHash()));
    }

    public void Dispose() => _stream.Dispose();

    private void FlushBuffer()
    {
        var span = _buffer.AsSpan(0, _used);
        _hash.Append(span);
        _stream.Write(span);
        _used = 0;
    }
}
