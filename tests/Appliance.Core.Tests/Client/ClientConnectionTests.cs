using System.Net;
using System.Net.Sockets;
using Appliance.Core.Client;
using Appliance.Core.Net;
using Appliance.Core.Protocol;

namespace Appliance.Core.Tests.Client;

public sealed class ClientConnectionTests
{
    /// <summary>A server that reads <paramref name="count"/> requests, then answers them in reverse
    /// order, each reply echoing the request's first key: every caller must still get its own answer.</summary>
    [Fact]
    public async Task PipelinedRepliesOutOfOrderReachTheRightCallers()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        const int Count = 50;
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            var buffer = new byte[1 << 20];
            var end = 0;
            var requests = new List<(uint Id, ulong Key)>();
            while (requests.Count < Count)
            {
                end += await socket.ReceiveAsync(buffer.AsMemory(end));
                var at = 0;
                requests.Clear();
                while (FrameScanner.TryScan(buffer.AsSpan(at, end - at), 1 << 20, out var header, out _) == ScanResult.Done)
                {
                    var keys = new ulong[1];
                    LookupCodec.ReadRequest(buffer.AsSpan(at + FrameHeader.Size, header.PayloadLength), out _, keys);
                    requests.Add((header.RequestId, keys[0]));
                    at += header.FrameLength;
                }
            }

            var reply = new FrameBuffer();
            for (var i = requests.Count - 1; i >= 0; i--)
            {
                reply.BeginFrame(Opcode.Lookup, FrameFlags.Response, requests[i].Id);
                reply.WriteUInt64(requests[i].Key * 10);
                reply.EndFrame();
            }

            await socket.SendAsync(reply.Written);
            await Task.Delay(200);
        });

        await using var connection = await ClientConnection.ConnectAsync(new NodeAddress("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port), TimeSpan.FromSeconds(5), CancellationToken.None);
        var calls = Enumerable.Range(0, Count).Select(i => connection.LookupAsync("d", new ulong[] { (ulong)i })).ToArray();
        var replies = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(20));
        for (var i = 0; i < Count; i++)
        {
            Assert.Equal((ulong)i * 10, BitConverter.ToUInt64(replies[i].Payload));
            replies[i].Dispose();
        }

        await server;
    }

    [Fact]
    public async Task AConnectionThatDiesFailsEveryRequestInFlight()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await socket.ReceiveAsync(new byte[1024].AsMemory());
        });
        await using var connection = await ClientConnection.ConnectAsync(new NodeAddress("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port), TimeSpan.FromSeconds(5), CancellationToken.None);
        var calls = Enumerable.Range(0, 5).Select(_ => connection.PingAsync()).ToArray();
        await server; // the server reads once and closes
        foreach (var call in calls)
        {
            await Assert.ThrowsAsync<ConnectionFailedException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        }

        Assert.False(connection.IsHealthy);
        await Assert.ThrowsAsync<ConnectionFailedException>(() => connection.PingAsync());
    }
}
