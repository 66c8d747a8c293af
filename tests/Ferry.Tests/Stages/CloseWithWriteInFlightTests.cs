using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A connection closed while the server still has bytes on their way to a peer that does not read: its
/// descriptor must go with the connection, or closed connections hold descriptors that
/// <c>max_connections</c> does not count (the stream transport kept them up to 10 s after <c>disconnected</c>).
/// </summary>
public abstract class CloseWithWriteInFlightTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : CloseWithWriteInFlightTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : CloseWithWriteInFlightTests(StageTransport.Stream);

    [Fact]
    public async Task A_connection_closed_with_a_write_in_flight_releases_its_descriptor_promptly()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Socket = new TcpSocketOptions { SendBufferSize = 4096 } }.On(transport));
        await h.StartAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        var id = (await h.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!)).ConnectionId;
        var c = h.Stage.Core.Table.Snapshot().Single();
        SafeHandle handle = c.Io switch
        {
            Ferry.Transport.SocketIo epoll => epoll.Handle,
            Ferry.Transport.Streams.StreamConnectionIo stream => stream.Socket.SafeHandle,
            var other => throw new InvalidOperationException(other.GetType().Name),
        };

        // The client never reads: sends go on until both kernels' buffers are full and bytes wait in the server.
        var payload = new byte[16 * 1024];
        for (var i = 0; i < 32; i++)
            await h.Stage.SendAsync(id, payload);
        // Half a megabyte against a few KiB of kernel buffers: once writing has begun, one is in flight.
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesSentTotal > 0, "the server to begin writing");

        Assert.True(h.Stage.Close(id));
        await h.WaitForDisconnectAsync(id);
        // Well under the old 10 s linger, generous for a loaded machine: the close itself takes microseconds.
        await Poll.UntilAsync(() => handle.IsClosed, "the closed connection's descriptor to be closed", TimeSpan.FromSeconds(6));
    }
}
