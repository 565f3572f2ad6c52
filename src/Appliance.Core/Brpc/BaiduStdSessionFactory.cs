using Appliance.Core.Net;

namespace Appliance.Core.Brpc;

/// <summary>Makes a <see cref="BaiduStdSession"/> per connection, all serving one <see cref="IDictService"/>.</summary>
internal sealed class BaiduStdSessionFactory(IDictService service, int maxBody) : ISessionFactory
{
    public ISession Create(IReplySink replies) => new BaiduStdSession(service, maxBody, replies);
}
