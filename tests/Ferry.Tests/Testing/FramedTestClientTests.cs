using System.Text;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Testing;

/// <summary>The test kit's client: messages in a framing both ways, fragments, TLS, a session framing's handshake, and how a failed receive reads.</summary>
public abstract class FramedTestClientTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : FramedTestClientTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : FramedTestClientTests(StageTransport.Stream);

    private TcpServerStageOptions Framed(string spec) => new TcpServerStageOptions { Framing = FramingSpec.Parse(spec) }.On(transport);

    private static FramedTestClientOptions Client(string spec) => new() { Framing = FramingSpec.Parse(spec) };

    [Theory]
    [InlineData("length,bytes=2,endian=big")]
    [InlineData("lines")]
    [InlineData("mux")]
    public async Task Messages_go_both_ways_in_the_framing(string spec)
    {
        await using var server = await FerryTestServer.StartAsync(Framed(spec));
        using var client = await server.ConnectAsync(Client(spec));
        var connected = await server.WaitForConnectionAsync(client);

        await client.SendMessageAsync("first");
        await client.SendMessageAsync("second");
        Assert.Equal(["first", "second"], (await server.WaitForPacketsAsync(2)).Select(p => p.Text));

        Assert.True(await server.Stage.SendAsync(connected.ConnectionId, Encoding.UTF8.GetBytes("back 1")));
        Assert.True(await server.Stage.SendAsync(connected.ConnectionId, Encoding.UTF8.GetBytes("back 2")));
        Assert.Equal(["back 1", "back 2"], (await client.ReceiveMessagesAsync(2)).Select(m => m.Text));
    }

    [Fact]
    public async Task Header_fields_travel_with_the_message()
    {
        await using var server = await FerryTestServer.StartAsync(Framed("mux"));
        using var client = await server.ConnectAsync(Client("mux"));
        await client.SendMessageAsync(Encoding.UTF8.GetBytes("on stream 7"), new FrameFields { StreamId = 7 });
        var packet = await server.WaitForPacketAsync();
        Assert.Equal(7u, packet.Fields.StreamId);

        var connected = await server.WaitForConnectionAsync(client);
        await server.Stage.SendAsync(connected.ConnectionId, Encoding.UTF8.GetBytes("reply"), new FrameFields { StreamId = 9 });
        var reply = await client.ReceiveMessageAsync();
        Assert.Equal(9u, reply.Fields.StreamId);
        Assert.Equal("reply", reply.Text);
    }

    [Fact]
    public async Task A_message_sent_one_byte_at_a_time_arrives_whole()
    {
        await using var server = await FerryTestServer.StartAsync(Framed("length,bytes=2"));
        using var client = await server.ConnectAsync(Client("length,bytes=2"));
        var framed = client.Encode(Encoding.UTF8.GetBytes("in pieces"));
        Assert.Equal(2 + 9, framed.Length);
        await client.SendFragmentedAsync(framed, fragmentBytes: 1, pause: TimeSpan.FromMilliseconds(1));
        Assert.Equal("in pieces", (await server.WaitForPacketAsync()).Text);
        Assert.Single(server.Packets);
    }

    [Fact]
    public async Task A_receive_that_runs_out_says_how_much_of_a_message_arrived()
    {
        await using var server = await FerryTestServer.StartAsync(Framed("raw"));
        using var client = await server.ConnectAsync(Client("length,bytes=2"));
        var connected = await server.WaitForConnectionAsync(client);
        await server.Stage.SendAsync(connected.ConnectionId, new byte[] { 0, 10, 1, 2, 3 });
        await Poll.UntilAsync(() => client.Socket.Available == 5, "5 bytes at the client");

        var error = await Assert.ThrowsAsync<TimeoutException>(() => client.ReceiveMessageAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Equal("timed out after 200 ms waiting for a length,bytes=2 message; saw 5 bytes of an unfinished message", error.Message);
        var bytes = await Assert.ThrowsAsync<TimeoutException>(() => client.ReceiveExactlyAsync(6, TimeSpan.FromMilliseconds(100)));
        Assert.Equal("timed out after 100 ms waiting for 6 bytes; saw 5", bytes.Message);
    }

    [Fact]
    public async Task Bytes_that_break_the_framing_are_reported_as_invalid_data()
    {
        await using var server = await FerryTestServer.StartAsync(Framed("raw"));
        using var client = await server.ConnectAsync(Client("length,bytes=1,max_frame_bytes=4"));
        var connected = await server.WaitForConnectionAsync(client);
        await server.Stage.SendAsync(connected.ConnectionId, new byte[] { 200, 1, 2 });
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => client.ReceiveMessageAsync());
        Assert.Contains("not valid length,bytes=1", error.Message);
    }

    [Fact]
    public async Task A_closed_connection_ends_a_receive_and_WaitClosed_sees_it()
    {
        await using var server = await FerryTestServer.StartAsync(Framed("lines"));
        using var client = await server.ConnectAsync(Client("lines"));
        var connected = await server.WaitForConnectionAsync(client);
        Assert.False(await client.WaitClosedAsync(TimeSpan.FromMilliseconds(50)));
        server.Stage.Close(connected.ConnectionId, "test");
        await Assert.ThrowsAsync<EndOfStreamException>(() => client.ReceiveMessageAsync());
        Assert.True(await client.WaitClosedAsync());
    }

    [Fact]
    public async Task A_session_framing_runs_its_handshake_before_the_first_message()
    {
        await using var server = await FerryTestServer.StartAsync(Framed("zmtp,socket=pull,message=single"));
        using var client = await server.ConnectAsync(Client("zmtp,socket=push,message=single"));
        await client.SendMessageAsync("after the greeting");
        Assert.Equal("after the greeting", (await server.WaitForPacketAsync()).Text);
        await server.WaitForConnectionAsync(client);
    }
}

/// <summary>The test kit's client over TLS, with the kit's own throwaway authority (the stream transport only: TLS runs there).</summary>
public sealed class FramedTestClientOverTlsTests
{
    [Fact]
    public async Task Connects_over_TLS_trusting_a_test_authority_and_asking_for_a_name()
    {
        using var ca = TestCertificateAuthority.Create();
        var tls = new TlsOptions { Secure = true, Certificate = ca.IssueServerOption("localhost", "127.0.0.1") };
        await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines"), Tls = tls });
        await using var client = await server.ConnectAsync(new FramedTestClientOptions { Framing = FramingSpec.Parse("lines"), Tls = ca.TrustingClient("localhost") });
        Assert.Equal("CN=localhost", client.Tls!.RemoteCertificate!.Subject);
        var connected = await server.WaitForConnectionAsync(client);
        Assert.Equal("localhost", connected.Tls!.ServerName);
        await client.SendMessageAsync("secret");
        Assert.Equal("secret", (await server.WaitForPacketAsync()).Text);
        await server.Stage.SendAsync(connected.ConnectionId, Encoding.UTF8.GetBytes("reply"));
        Assert.Equal("reply", (await client.ReceiveMessageAsync()).Text);
    }

    [Fact]
    public async Task Presents_a_client_certificate_the_server_checks()
    {
        using var ca = TestCertificateAuthority.Create();
        var tls = new TlsOptions
        {
            Secure = true,
            Certificate = ca.IssueServerOption("localhost"),
            CaCertificatePem = ca.CertificatePem,
            ClientCertificate = ClientCertificateMode.Required,
        };
        await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Tls = tls });
        await using var client = await server.ConnectAsync(new FramedTestClientOptions { Tls = ca.TrustingClient(clientCertificate: ca.IssueClient("terminal-9")) });
        var connected = await server.WaitForConnectionAsync(client);
        Assert.Equal("CN=terminal-9", connected.Tls!.PeerCertificateSubject);
    }

    [Fact]
    public async Task A_server_certificate_from_another_authority_is_refused()
    {
        using var ca = TestCertificateAuthority.Create();
        using var other = TestCertificateAuthority.Create("Another CA");
        var tls = new TlsOptions { Secure = true, Certificate = ca.IssueServerOption("localhost") };
        await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Tls = tls });
        await Assert.ThrowsAsync<System.Security.Authentication.AuthenticationException>(
            () => server.ConnectAsync(new FramedTestClientOptions { Tls = other.TrustingClient() }));
    }
}
