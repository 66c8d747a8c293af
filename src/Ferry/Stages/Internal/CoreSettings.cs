using Ferry.Framing;
using Ferry.Transport;
using Ferry.Transport.Epoll;
using Ferry.Transport.Streams;
using Ferry.Transport.Tls;
using Ferry.Transport.Tls.OpenSsl;

namespace Ferry.Stages.Internal;

/// <summary>What the service loop needs from a stage's options, whichever kind of stage it is.</summary>
internal sealed record CoreSettings(
    string Name,
    IFraming Framing,
    int ReadBufferBytes,
    int EgressBufferBytes,
    EgressOverflowPolicy EgressOverflow,
    TimeSpan EgressWaitTimeout,
    int QueueWhenDisconnected,
    int HoldWhenDisconnectedBytes,
    bool GroupNotices,
    TimeSpan IdleTimeout,
    TimeSpan FrameTimeout,
    long MaxPendingBytes,
    int GroupSize,
    TimeSpan GroupLinger,
    TimeSpan StatsInterval,
    TimeSpan StopGracePeriod,
    ThreadPriority ThreadPriority,
    IReadOnlyList<int> ThreadProcessorAffinity,
    StageTransport Transport,
    TlsOptions? Tls,
    string? TlsServerName,
    TimeSpan? ProxyHeaderTimeout = null,
    TimeSpan HalfCloseLinger = default,
    int MaxGroupsPerConnection = 0,
    int MaxGroupNameLength = StageOptionChecks.LongestGroupNameLimit,
    TimeSpan? CloseLinger = null,
    int LingeringCap = 0)
{
    /// <summary>The stage's lingering closes: <c>close_linger</c> (default 2 s) on the stage's clock, at most <see cref="LingeringCap"/> at once.</summary>
    private global::Ferry.Transport.CloseLinger Lingering(TimeProvider time) => new(CloseLinger ?? global::Ferry.Transport.CloseLinger.DefaultLimit, LingeringCap, time);

    /// <summary>
    /// The stage's transport, <see cref="StageTransport.Auto"/> resolved for this system; with TLS, epoll
    /// with OpenSSL for a server, or the stream transport with a server or client handshake. Certificates are loaded here: a file that
    /// cannot be read or a key that does not fit is a <see cref="StageOptionsException"/>, whose message names the options' property
    /// (<c>TcpServerStageOptions.Tls.Certificate.CertificateFile</c>) like the options' own checks: the one who called the constructor
    /// set properties, not the run files' keys.
    /// </summary>
    public ITransport CreateTransport(TimeProvider time, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var secure = Tls is { Secure: true };
        var epoll = StageTransportChoice.Resolve(Transport, secure, server: TlsServerName is null) == StageTransport.Epoll;
        // The options' checks refuse epoll where it cannot run, and an unchecked path still gets the option's error
        // here, not a missing libc. EpollHere is repeated below because the platform analyzer (CA1416) follows
        // guards, not the value of 'epoll': it is what proves the epoll types unreachable off Linux.
        if (epoll && !StageTransportChoice.EpollHere)
            throw new StageOptionsException(Name, [StageTransportChoice.EpollOnlyOnLinux], OptionsType);
        if (epoll && !secure && StageTransportChoice.EpollHere)
            return new EpollTransport(Lingering(time));
        if (!secure)
            return new StreamTransport(ReadBufferBytes, linger: Lingering(time));
        // A stage's certificate files are looked at again during handshakes: what a change did is logged.
        var reloadLog = logger is null ? null : new CertificateReloadLog(logger, Name);
        try
        {
            if (epoll && StageTransportChoice.EpollHere)
                return new EpollTransport(Lingering(time), new OpenSslServerTls(Tls!, time, reloadLog));
            IStreamHandshake handshake = TlsServerName is null ? new ServerTlsHandshake(Tls!, time, reloadLog) : new ClientTlsHandshake(Tls!, TlsServerName, time, reloadLog);
            return new StreamTransport(ReadBufferBytes, handshake, Lingering(time));
        }
        catch (TlsMaterialException ex)
        {
            throw new StageOptionsException(Name, [ex.Message], OptionsType);
        }
    }

    /// <summary>The options class the stage was built from, to name its properties: only a client stage has a server name to check.</summary>
    private string OptionsType => TlsServerName is null ? nameof(TcpServerStageOptions) : nameof(TcpClientStageOptions);

    public static CoreSettings From(TcpServerStageOptions o) => new(o.Name, o.Framing, o.ReadBufferBytes, o.EgressBufferBytes,
        o.EgressOverflow, o.EgressWaitTimeout, o.QueueWhenDisconnected, o.EgressBufferBytes, o.GroupNotices, o.IdleTimeout, o.FrameTimeout, o.MaxPendingBytes, o.GroupSize, o.GroupLinger,
        o.StatsInterval, o.StopGracePeriod, o.ThreadPriority, o.ThreadProcessorAffinity, o.Transport, o.Tls, null,
        o.ProxyProtocol == ProxyProtocol.Off ? null : o.ProxyHeaderTimeout, o.HalfCloseLinger, o.MaxGroupsPerConnection, o.MaxGroupNameLength,
        o.CloseLinger, o.MaxConnections);

    public static CoreSettings From(TcpClientStageOptions o) => new(o.Name, o.Framing, o.ReadBufferBytes, o.EgressBufferBytes,
        o.EgressOverflow, o.EgressWaitTimeout, o.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold ? int.MaxValue : 0,
        o.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold ? o.EgressBufferBytes : int.MaxValue, false, o.IdleTimeout, o.FrameTimeout, o.MaxPendingBytes,
        o.GroupSize, o.GroupLinger, o.StatsInterval, o.StopGracePeriod, o.ThreadPriority, o.ThreadProcessorAffinity, o.Transport, o.Tls,
        o.Tls?.ServerName ?? BindAddress.Parse(o.Connect, "connect").Host, MaxGroupsPerConnection: o.MaxGroupsPerConnection, MaxGroupNameLength: o.MaxGroupNameLength,
        CloseLinger: o.CloseLinger, LingeringCap: 1);
}
