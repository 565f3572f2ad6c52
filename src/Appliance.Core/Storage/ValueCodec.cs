namespace Appliance.Core.Storage;

/// <summary>How a shard stores its values. Disk enum: the numbers are written to values.bin.</summary>
internal enum ValueCodec : ushort
{
    /// <summary>Opaque bytes, stored as given.</summary>
    Raw = 0,

    /// <summary>float32 little-endian rows, all of one dimension.</summary>
    F32 = 1,

    /// <summary>float16 little-endian rows (half the memory of f32).</summary>
    F16 = 2,

    /// <summary>Per-row affine int8: f32 min | f32 scale | dim × u8; x ≈ min + q × scale.</summary>
    I8 = 3,
}
