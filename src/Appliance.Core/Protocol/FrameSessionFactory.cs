using Appliance.Core.Net;

namespace Appliance.Core.Protocol;

/// <summary>Makes a <see cref="FrameSession"/> per connection, all sharing one handler.</summary>
internal sealed class FrameSessionFactory(IFrameHandler handler, int maxPayload) : ISessionFactory
{
    public ISession Create(IReplySink replies) => new FrameSession(handler, maxPayload, replies);
}
