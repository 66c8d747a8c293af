using System.Net;
using System.Net.Sockets;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Transport;

/// <summary>The epoll transport's listening socket, made without System.Net.Sockets.Socket: addresses and errors as a Socket gives them.</summary>
public sealed class ListenSocketTests
{
    [Theory]
    [InlineData("127.0.0.1:0", AddressFamily.InterNetwork)]
    [InlineData("[::1]:0", AddressFamily.InterNetworkV6)]
    public void It_listens_on_the_address_given_and_says_which_port(string bind, AddressFamily family)
    {
        if (family == AddressFamily.InterNetworkV6 && !Socket.OSSupportsIPv6)
            return;
        using var listener = ListenSocket.Open(BindAddress.Parse(bind, "bind"), 16, new TcpSocketOptions());
        Assert.Equal(family, listener.LocalEndPoint.AddressFamily);
        Assert.NotEqual(0, listener.LocalEndPoint.Port);
        using var client = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint); // the kernel completes it from the backlog
        Assert.True(client.Connected);
    }

    [Fact]
    public void A_taken_port_fails_as_a_Socket_would_say_it()
    {
        using var holder = FreePorts.Taken(out var port);
        var ex = Assert.Throws<SocketException>(() => ListenSocket.Open(BindAddress.Parse($"127.0.0.1:{port}", "bind"), 16, new TcpSocketOptions()));
        Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
        Assert.Equal(new SocketException((int)SocketError.AddressAlreadyInUse).Message, ex.Message);
    }

    [Fact]
    public void An_error_the_table_does_not_name_keeps_its_errno_and_text()
    {
        var ex = Assert.IsType<IOException>(ListenSocket.Failure(71)); // EPROTO
        Assert.Contains("errno 71", ex.Message);
        Assert.Equal(SocketError.AccessDenied, ListenSocket.ToSocketError(13));
        Assert.Equal(SocketError.AddressNotAvailable, ListenSocket.ToSocketError(99));
    }
}
