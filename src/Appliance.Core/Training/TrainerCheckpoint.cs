using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Appliance.Core.Engine;
using Appliance.Core.Features;
using Appliance.Core.Formats;

namespace Appliance.Core.Training;

/// <summary>
/// <c>checkpoint.bin</c>: the whole <see cref="TrainerState"/>, so <c>cube train --delta</c> can
/// continue training and export only what changed. All numbers little-endian:
/// <code>
///   0  8  magic "CUBETRN1"
///   8  u32 format (1) | u32 hash scheme | u32 embedding dim | u32 layer count
///      per layer: u32 inputs | u32 outputs
///      i64 Adam step | i32 epochs trained | u64 base id | u64 last export id
///      i64 rows | rows × u64 key | rows × dim f32 values | rows × dim f32 Adagrad sums | rows × u8 dirty
///      per layer: W | b | Adam m(W) | v(W) | m(b) | v(b)   (f32 arrays)
///  end u64 XxHash64 of every byte before it
/// </code>
/// Written whole to a temporary file and renamed, so a crash leaves the previous checkpoint.
/// </summary>
internal static class TrainerCheckpoint
{
    public const string FileName = "checkpoint.bin";
    private const int Format = 1;
    private static ReadOnlySpan<byte> Magic => "CUBETRN1"u8;

    public static void Save(TrainerState state, string path)
    {
        using var body = new MemoryStream();
        var w = new LittleEndianWriter(body);
        body.Write(Magic);
        w.U32(Format);
        w.U32((uint)state.Hash);
        w.U32((uint)state.EmbeddingDim);
        w.U32((uint)state.Layers.Count);
        foreach (var layer in state.Layers)
        {
            w.U32((uint)layer.Inputs);
            w.U32((uint)layer.Outputs);
        }

        w.U64((ulong)state.AdamStep);
        w.U32((uint)state.EpochsTrained);
        w.U64(state.BaseId);
        w.U64(state.LastId);
        var table = state.Table;
        w.U64((ulong)table.Count);
        foreach (var key in table.Keys)
        {
            w.U64(key);
        }

        w.Floats(table.Values);
        w.Floats(table.Accumulators);
        body.Write(table.Dirty);
        foreach (var layer in state.Layers)
        {
            w.Floats(layer.Weights);
            w.Floats(layer.Bias);
            w.Floats(layer.WeightMoments.First);
            w.Floats(layer.WeightMoments.Second);
            w.Floats(layer.BiasMoments.First);
            w.Floats(layer.BiasMoments.Second);
        }

        w.U64(XxHash64.HashToUInt64(body.GetBuffer().AsSpan(0, (int)body.Length)));
        AtomicFile.Write(path, body.GetBuffer().AsSpan(0, (int)body.Length));
    }

    public static TrainerState Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFormatException(path, "offset 0", $"cannot read: {e.Message}");
        }

        if (bytes.Length < Magic.Length + 8 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InputFormatException(path, "offset 0", "not a cube training checkpoint (magic CUBETRN1)");
        }

        var stored = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8));
        if (XxHash64.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)) != stored)
        {
            throw new InputFormatException(path, $"offset {bytes.Length - 8}", "checksum mismatch: the checkpoint is damaged or truncated");
        }

        var r = new LittleEndianReader(bytes, Magic.Length, bytes.Length - 8, path);
        var format = r.U32();
        if (format != Format)
        {
            throw new InputFormatException(path, "offset 8", $"checkpoint format {format}; this build reads {Format}");
        }

        var hash = (HashScheme)r.U32();
        var dim = (int)r.U32();
        var layerCount = (int)r.U32();
        var shapes = Enumerable.Range(0, layerCount).Select(_ => ((int)r.U32(), (int)r.U32())).ToArray();
        var step = (long)r.U64();
        var epochs = (int)r.U32();
        var baseId = r.U64();
        var lastId = r.U64();
        var rows = checked((int)r.U64());
        var keys = new ulong[rows];
        for (var i = 0; i < rows; i++)
        {
            keys[i] = r.U64();
        }

        var values = r.Floats(rows * dim);
        var accumulators = r.Floats(rows * dim);
        var dirty = r.Bytes(rows);
        var table = new EmbeddingTable(dim, 0);
        for (var i = 0; i < rows; i++)
        {
            table.Restore(keys[i], values.AsSpan(i * dim, dim), accumulators.AsSpan(i * dim, dim), dirty[i]);
        }

        var layers = new List<DenseLayer>();
        foreach (var (inputs, outputs) in shapes)
        {
            var layer = new DenseLayer(inputs, outputs, random: null);
            r.Floats(inputs * outputs).CopyTo(layer.Weights, 0);
            r.Floats(outputs).CopyTo(layer.Bias, 0);
            r.Floats(inputs * outputs).CopyTo(layer.WeightMoments.First, 0);
            r.Floats(inputs * outputs).CopyTo(layer.WeightMoments.Second, 0);
            r.Floats(outputs).CopyTo(layer.BiasMoments.First, 0);
            r.Floats(outputs).CopyTo(layer.BiasMoments.Second, 0);
            layers.Add(layer);
        }

        r.ExpectEnd();
        return new TrainerState(hash, dim, table, layers) { AdamStep = step, EpochsTrained = epochs, BaseId = baseId, LastId = lastId };
    }

    private readonly struct LittleEndianWriter(Stream stream)
    {
        public void U32(uint value)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            stream.Write(b);
        }

        public void U64(ulong value)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            stream.Write(b);
        }

        public void Floats(ReadOnlySpan<float> values)
        {
            if (BitConverter.IsLittleEndian)
            {
                stream.Write(MemoryMarshal.AsBytes(values));
                return;
            }

            Span<byte> b = stackalloc byte[4];
            foreach (var v in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(b, v);
                stream.Write(b);
            }
        }
    }

    private sealed class LittleEndianReader(byte[] bytes, int offset, int end, string path)
    {
        private int _offset = offset;

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        public byte[] Bytes(int count) => Take(count).ToArray();

        public float[] Floats(int count)
        {
            var span = Take(checked(count * 4));
            var values = new float[count];
            for (var i = 0; i < count; i++)
            {
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]);
            }

            return values;
        }

        public void ExpectEnd()
        {
            if (_offset != end)
            {
                throw new InputFormatException(path, $"offset {_offset}", $"{end - _offset} unexpected byte(s) before the checksum");
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || _offset + count > end)
            {
                throw new InputFormatException(path, $"offset {_offset}", $"truncated: {count} byte(s) needed, {end - _offset} left");
            }

            var span = bytes.AsSpan(_offset, count);
            _offset += count;
            return span;
        }
    }
}
