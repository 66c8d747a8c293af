namespace Ferry.Transport.Epoll;

/// <summary>The Linux fast path: one <see cref="Reactor"/> per stage, sockets driven by non-blocking system calls.</summary>
/// <param name="linger">The stage's lingering closes (<c>close_linger</c>, its clock, the bound); the default, unbounded, when null.</param>
/// <param name="tls">A server stage's TLS (accepted connections become <see cref="TlsSocketIo"/>); null for plain connections.</param>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class EpollTransport(CloseLinger? linger = null, Tls.OpenSsl.OpenSslServerTls? tls = null) : ITransport
{
    private readonly Reactor _reactor = new();
    private readonly CloseLinger _linger = linger ?? CloseLinger.Unbounded;

    public CloseLinger Linger => _linger;

    /// <summary>One round: epoll reports a hang-up in the wait that follows it.</summary>
    public TimeSpan LimitWait => TimeSpan.Zero;

    public IReadiness Readiness => _reactor;

    /// <summary>The server TLS its connections run (null for plain ones), for tests.</summary>
    public Tls.OpenSsl.OpenSslServerTls? Tls => tls;

    /// <summary>The reactor itself, for tests that inject faults.</summary>
    public Reactor Reactor => _reactor;

    public IListener Listen(BindAddress address, int backlog, TcpSocketOptions options, long token)
        => EpollListener.Open(_reactor, address, backlog, options, token, _linger, tls);

    public IDialAttempt CreateDial(long token) => new EpollDial(_reactor, token, _linger);
}
