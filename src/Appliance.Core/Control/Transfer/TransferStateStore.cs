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
            throw new Formats.InputFormatException(Path, $"line {(e.LineNumber ?? 0) + 1}", $"transfer state is corrupt ({e.Message}); move it away to start from scratch");
        }
    }

    public void Save(TransferState state)
    {
        lock (_lock)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            AtomicFile.Write(Path, JsonSerializer.SerializeToUtf8Bytes(state, ControlJsonContext.Default.TransferState));
        }
    }
}
