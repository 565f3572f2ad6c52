using System.Text.Json;
using Appliance.Core.Formats;

namespace Appliance.Core.Control.Transfer;

/// <summary>Loads and saves <see cref="TransferState"/> at tmp_address/transfer-state.json
/// (replaced atomically on every save, so a kill at any moment leaves the last saved state).</summary>
internal sealed class TransferStateStore(string tmpAddress)
{
    private readonly object _lock = new();

    public string Path { get; } = System.IO.Path.Combine(tmpAddress, "transfer-state.json");

    public TransferState Load()
    {
        if (!File.Exists(Path))
        {
            return new TransferState();
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(Path), ControlJsonContext.Default.TransferState) ?? new TransferState();
        }
        catch (JsonException e)
        {
            throw new InputFormatException(Path, $"line {(e.LineNumber ?? 0) + 1}", $"transfer state is corrupt ({e.Message}); move it away to start from scratch");
        }
    }

    /// <summary>Writes the state (atomically) and returns the bytes written.</summary>
    public byte[] Save(TransferState state)
    {
        var bytes = Serialize(state);
        lock (_lock)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            AtomicFile.Write(Path, bytes);
        }

        return bytes;
    }

    public byte[] Serialize(TransferState state) => JsonSerializer.SerializeToUtf8Bytes(state, ControlJsonContext.Default.TransferState);

    /// <summary>A state from its saved bytes (a deep copy of the state they were made from).</summary>
    public static TransferState Read(byte[] bytes) =>
        JsonSerializer.Deserialize(bytes, ControlJsonContext.Default.TransferState) ?? new TransferState();
}
