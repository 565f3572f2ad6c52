using System.Buffers.Binary;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Core.Training;

/// <summary>
/// Writes the trainer's table the way any external trainer must (docs/export-contract.md):
/// SequenceFiles of (8-byte little-endian key, dim × float32 little-endian) records under
/// <c>OUT/&lt;id&gt;/base/</c> or <c>OUT/&lt;id&gt;/patch/</c>, then one donefile line in
/// <c>OUT/donefile/base.txt</c> or <c>patch.txt</c>. The files are written under a temporary
/// name, fsynced and renamed; the donefile line (<see cref="Publish"/>), appended after the model
/// and the checkpoint are written, is what makes the version exist.
/// A base holds every row; a patch holds the rows updated since the last export (their dirty
/// flags), and names the last base as its key. Exporting clears the dirty flags.
/// </summary>
internal static class TableExport
{
    public const string DonefileDirectory = "donefile";

    /// <summary>Rows per SequenceFile: the builder parses files in parallel.</summary>
    private const int RowsPerPart = 1_000_000;

    public sealed record Result(string Id, bool IsPatch, string Directory, long Rows, int Parts, string Donefile, DonefileEntry Entry);

    public static Result Write(TrainerState state, string outDir, bool patch)
    {
        if (patch && state.BaseId == 0)
        {
            throw new InvalidOperationException("no base has been exported from this checkpoint yet; export a base first (cube train without --delta)");
        }

        // Ids are unix seconds like the original producers', and strictly increasing.
        var now = ulong.Parse(VersionId.Now(), System.Globalization.CultureInfo.InvariantCulture);
        var id = Math.Max(now, state.LastId + 1);
        var idText = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var table = state.Table;
        var rows = new List<int>(table.Count);
        var dirty = table.Dirty;
        for (var r = 0; r < table.Count; r++)
        {
            if (!patch || dirty[r] != 0)
            {
                rows.Add(r);
            }
        }

        var kind = patch ? "patch" : "base";
        var target = Path.Combine(outDir, idText, kind);
        var temporary = Path.Combine(outDir, idText, $".tmp-{kind}-{Environment.ProcessId}");
        if (Directory.Exists(target))
        {
            throw new IOException($"{target} already exists");
        }

        Directory.CreateDirectory(temporary);
        var parts = Math.Max(1, (rows.Count + RowsPerPart - 1) / RowsPerPart);
        var dim = table.Dimension;
        var value = new byte[dim * 4];
        try
        {
            for (var p = 0; p < parts; p++)
            {
                using var writer = SequenceFileWriter.Create(Path.Combine(temporary, $"part-{p:D5}"));
                var end = Math.Min(rows.Count, (p + 1) * RowsPerPart);
                for (var i = p * RowsPerPart; i < end; i++)
                {
                    var row = table.Row(rows[i]);
                    for (var d = 0; d < dim; d++)
                    {
                        BinaryPrimitives.WriteSingleLittleEndian(value.AsSpan(d * 4), row[d]);
                    }

                    writer.Write(table.Keys[rows[i]], value);
                }

                writer.Flush();
            }

            Directory.Move(temporary, target);
            AtomicFile.SyncDirectory(Path.Combine(outDir, idText));
        }
        catch
        {
            Directory.Delete(temporary, recursive: true);
            throw;
        }

        var entry = new DonefileEntry(idText, patch ? state.BaseId.ToString(System.Globalization.CultureInfo.InvariantCulture) : idText, target);
        var donefile = Path.Combine(outDir, DonefileDirectory, patch ? "patch.txt" : "base.txt");
        dirty.Clear();
        state.LastId = id;
        if (!patch)
        {
            state.BaseId = id;
        }

        return new Result(idText, patch, target, rows.Count, parts, donefile, entry);
    }

    /// <summary>Appends the export's donefile line: the last step, after everything the version
    /// needs (its files, the model trained with it, the checkpoint naming it) is on disk.</summary>
    public static void Publish(Result export) => DonefileReader.Append(export.Donefile, export.Entry);

    /// <summary>The table's values as the server will return them after the builder encodes them
    /// with <paramref name="codec"/> (identity for f32).</summary>
    public static float[] AsServed(EmbeddingTable table, ValueCodec codec)
    {
        if (codec is ValueCodec.F32 or ValueCodec.Raw)
        {
            return table.RawValues;
        }

        var dim = table.Dimension;
        var served = new float[table.Count * dim];
        var f32 = new byte[dim * 4];
        var encoded = new byte[ValueCodecs.EncodedLength(codec, dim)];
        for (var r = 0; r < table.Count; r++)
        {
            var row = table.Row(r);
            for (var d = 0; d < dim; d++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(f32.AsSpan(d * 4), row[d]);
            }

            ValueCodecs.Encode(codec, f32, encoded);
            ValueCodecs.Decode(codec, encoded, served.AsSpan(r * dim, dim));
        }

        return served;
    }
}
