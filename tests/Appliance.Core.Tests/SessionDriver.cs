using Appliance.Core.Buffers;
using Appliance.Core.Net;

namespace Appliance.Core.Tests;

/// <summary>Drives a session the way the transport does (receive into a buffer, consume, compact,
/// send), the stream offered in the chunks given, to prove a protocol's replies do not depend on
/// how its bytes arrive.</summary>
internal static class SessionDriver
{
    public static (byte[] Output, bool Closing) Drive(ISession session, byte[] stream, int[] chunks, int initialBuffer = 64)
    {
        var input = new ReceiveBuffer(initialBuffer);
        var output = new List<byte>();
        var offset = 0;
        foreach (var chunk in chunks)
        {
            var left = chunk;
            while (left > 0 && !session.Closing)
            {
                var n = Math.Min(left, input.FreeSpan.Length);
                stream.AsSpan(offset, n).CopyTo(input.FreeSpan);
                input.Commit(n);
                (offset, left) = (offset + n, left - n);
                input.Consume(session.Receive(input.Data));
                input.Compact(session.BytesNeeded);
                output.AddRange(session.Output.ToArray());
                session.ClearOutput();
            }
        }

        return ([.. output], session.Closing);
    }
}
