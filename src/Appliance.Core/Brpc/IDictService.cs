namespace Appliance.Core.Brpc;

/// <summary>What <c>rec.mcube.DictService</c> does behind a baidu_std or HTTP front door.</summary>
internal interface IDictService
{
    /// <summary>Answers one <c>seek</c>: <paramref name="request"/> is the serialised DictRequest;
    /// the answer (a DictResponse, or an error) goes to <paramref name="reply"/>. A request that
    /// does not parse throws <see cref="ProtoFormatException"/>.</summary>
    void Seek(ReadOnlySpan<byte> request, BaiduStdReply reply);
}
