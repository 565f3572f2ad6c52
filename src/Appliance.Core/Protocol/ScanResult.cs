namespace Appliance.Core.Protocol;

/// <summary>What <see cref="FrameScanner"/> found at the start of a buffer.</summary>
internal enum ScanResult
{
    /// <summary>A whole frame is there.</summary>
    Done,

    /// <summary>The frame is not complete yet; read more.</summary>
    NeedMoreData,

    /// <summary>The bytes cannot be a frame: the connection must be closed after an error reply.</summary>
    InvalidData,
}
