using Ferry.Transport;

namespace Ferry.Tests.Platform;

/// <summary>
/// What a stage's <c>transport</c> option comes to on a system without epoll (Windows, macOS), checked here on
/// Linux by giving the choice that system's facts (<see cref="StageTransportChoice.Resolve(StageTransport, bool, bool, bool, bool)"/>)
/// rather than pretending to run there. Running on streams there is covered by the stream suites (e.g.
/// <c>TlsStageTests.OnStream</c>), which are the same code on every system.
/// </summary>
public sealed class PortableTransportChoiceTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void Auto_on_a_system_without_epoll_is_the_stream_transport(bool tls, bool server)
    {
        Assert.Equal(StageTransport.Stream, StageTransportChoice.Resolve(StageTransport.Auto, tls, server, epollHere: false, epollTlsHere: false));
        var problems = new List<string>();
        StageTransportChoice.Validate(problems, StageTransport.Auto, tls, server, epollHere: false, epollTlsHere: false);
        StageTransportChoice.Validate(problems, StageTransport.Stream, tls, server, epollHere: false, epollTlsHere: false);
        Assert.Empty(problems);
    }

    [Fact]
    public void Auto_on_linux_without_openssl_3_keeps_plain_connections_on_epoll_and_puts_tls_on_streams()
    {
        Assert.Equal(StageTransport.Epoll, StageTransportChoice.Resolve(StageTransport.Auto, tls: false, server: true, epollHere: true, epollTlsHere: false));
        Assert.Equal(StageTransport.Stream, StageTransportChoice.Resolve(StageTransport.Auto, tls: true, server: true, epollHere: true, epollTlsHere: false));
        Assert.Equal(StageTransport.Epoll, StageTransportChoice.Resolve(StageTransport.Auto, tls: true, server: true, epollHere: true, epollTlsHere: true));
        Assert.Equal(StageTransport.Stream, StageTransportChoice.Resolve(StageTransport.Auto, tls: true, server: false, epollHere: true, epollTlsHere: true));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Epoll_asked_for_on_a_system_without_it_is_an_option_error_that_names_the_transport_to_use(bool tls, bool server)
    {
        var problems = new List<string>();
        StageTransportChoice.Validate(problems, StageTransport.Epoll, tls, server, epollHere: false, epollTlsHere: false);
        Assert.Equal(["option 'transport': epoll is only available on Linux; use stream (or auto)"], problems);
    }

    [Fact]
    public void This_system_is_described_as_it_is()
    {
        Assert.Equal(OperatingSystem.IsLinux(), StageTransportChoice.EpollHere);
        Assert.True(!StageTransportChoice.EpollTlsHere || StageTransportChoice.EpollHere);
        foreach (var requested in Enum.GetValues<StageTransport>())
            foreach (var tls in new[] { false, true })
                foreach (var server in new[] { false, true })
                    Assert.Equal(
                        StageTransportChoice.Resolve(requested, tls, server, StageTransportChoice.EpollHere, StageTransportChoice.EpollTlsHere),
                        StageTransportChoice.Resolve(requested, tls, server));
    }
}
