using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// <c>raw,max_frame_bytes=N</c> through a stage: a receive larger than N becomes packets of at most N bytes,
/// in order and with nothing lost (docs/framing.md), also across full groups and after a PROXY header.
/// </summary>
public abstract class RawPacketLimitTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : RawPacketLimitTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : RawPacketLimitTests(StageTransport.Stream);

    private static byte[] Pattern(int length, int seed) =>
        [.. Enumerable.Range(0, length).Select(i => (byte)('a' + (i * 7 + seed) % 26))];

    private static void AssertCutAndWhole(IReadOnlyList<RecordedPacket> packets, byte[] sent, int max)
    {
        Assert.All(packets, p => Assert.InRange(p.Payload.Length, 1, max));
        Assert.Equal(sent, packets.SelectMany(p => p.Payload).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public async Task A_receive_larger_than_max_frame_bytes_becomes_packets_of_at_most_that_size(int groupSize)
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Framing = FramingSpec.Parse("raw,max_frame_bytes=100"),
            GroupSize = groupSize,
        }.On(transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);

        // One write of 5000 bytes: on loopback it arrives in one or a few receives, each far over 100 bytes.
        var first = Pattern(5000, 1);
        await client.SendAsync(first);
        var packets = await h.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= first.Length, "5000 bytes");
        AssertCutAndWhole(packets, first, 100);
        Assert.True(packets.Count >= 50);

        var second = Pattern(250, 2);
        await client.SendAsync(second);
        packets = await h.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= first.Length + second.Length, "250 more bytes");
        AssertCutAndWhole(packets, [.. first, .. second], 100);
    }

    [Fact]
    public async Task Bytes_that_came_with_a_proxy_header_are_cut_too()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Framing = FramingSpec.Parse("raw,max_frame_bytes=100"),
            ProxyProtocol = ProxyProtocol.V1,
            TrustedProxies = ["127.0.0.1"],
        }.On(transport));
        await h.StartAsync();
        using var proxy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await proxy.ConnectAsync(h.EndPoint).WaitAsync(TimeSpan.FromSeconds(10));
        var data = Pattern(5000, 3);
        // The header and the client's first bytes in one segment, as HAProxy sends them.
        byte[] segment = [.. Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n"), .. data];
        await proxy.SendAsync(segment, SocketFlags.None);
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal(IPEndPoint.Parse("192.0.2.10:56324"), connected.Peer);
        var packets = await h.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= data.Length, "5000 bytes after the header");
        AssertCutAndWhole(packets, data, 100);
    }
}
