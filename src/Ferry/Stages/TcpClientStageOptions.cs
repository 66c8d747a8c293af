using Ferry.Framing;
using Ferry.Transport;

namespace Ferry.Stages;

/// <summary>What a client stage does with egress while it is not connected.</summary>
public enum DisconnectedEgressPolicy
{
    /// <summary>Keep it, up to <c>egress_buffer_bytes</c> (oldest dropped beyond), and send it after reconnecting.</summary>
    Hold,
    /// <summary>Drop it and count it.</summary>
    Drop,
}

/// <summary>Settings of a <see cref="TcpClientStage"/> (the seeds' client mode), validated when the stage is built.</summary>
public sealed record TcpClientStageOptions
{
    public string Name { get; init; } = "tcp_client";

    /// <summary>The remote <c>host:port</c>; host names are resolved at every attempt.</summary>
    public string Connect { get; init; } = "127.0.0.1:9000";

    /// <summary>Optional local source address (<c>host:port</c>, port 0 = any).</summary>
    public string? LocalBind { get; init; }

    public TcpSocketOptions Socket { get; init; } = new();

    /// <summary>
    /// How connections are served: <see cref="StageTransport.Auto"/> (default: epoll on Linux, streams
    /// elsewhere), <see cref="StageTransport.Epoll"/> (Linux only) or <see cref="StageTransport.Stream"/>
    /// (portable; also selectable on Linux).
    /// </summary>
    public StageTransport Transport { get; init; } = StageTransport.Auto;

    /// <summary>TLS (<c>tls</c>): server name, CA bundle, client certificate, handshake deadline. Off when null.</summary>
    public TlsOptions? Tls { get; init; }

    public IFraming Framing { get; init; } = RawFraming.Default;

    public int GroupSize { get; init; } = 1;

    public TimeSpan GroupLinger { get; init; } = TimeSpan.FromMilliseconds(1);

    public int EgressBufferBytes { get; init; } = 1024 * 1024;

    public DisconnectedEgressPolicy EgressWhileDisconnected { get; init; } = DisconnectedEgressPolicy.Hold;

    /// <summary>What happens to a message when the egress buffer is full while connected (drop, disconnect or wait).</summary>
    public EgressOverflowPolicy EgressOverflow { get; init; } = EgressOverflowPolicy.Drop;

    /// <summary>With <see cref="EgressOverflowPolicy.Wait"/>: how long a publisher is held before the message is dropped.</summary>
    public TimeSpan EgressWaitTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>No data from the remote for this long: drop the connection and reconnect. Zero = never.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>How long one connection attempt may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Wait after a failed attempt or a lost connection; doubles per failure up to <see cref="ReconnectMaxWait"/>.</summary>
    public TimeSpan ReconnectWait { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMaxWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Random spread applied to every wait, as a fraction (0.2 = ±20 %), so many clients do not retry in step.</summary>
    public double ReconnectJitter { get; init; } = 0.2;

    /// <summary>Attempts before giving up; 0 = retry forever.</summary>
    public int ReconnectAttempts { get; init; }

    /// <summary>A connection that stayed up this long resets the back-off to <see cref="ReconnectWait"/>.</summary>
    public TimeSpan HealthyAfter { get; init; } = TimeSpan.FromSeconds(10);

    public int ReadBufferBytes { get; init; } = 64 * 1024;

    public ThreadPriority ThreadPriority { get; init; } = ThreadPriority.Normal;

    public IReadOnlyList<int> ThreadProcessorAffinity { get; init; } = [];

    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(1);

    public void Validate()
    {
        var problems = new List<string>();
        StageOptionChecks.Common(problems, Name, GroupSize, GroupLinger, EgressBufferBytes, IdleTimeout, ReadBufferBytes, ThreadProcessorAffinity, StatsInterval);
        if (!BindAddress.TryParse(Connect, out var remote, out var why) || remote.IsAnyHost || remote.Port == 0)
            problems.Add($"option 'connect': '{Connect}' is not a remote address ({(why.Length > 0 ? why : "needs a host and a port from 1 to 65535")}); use host:port or [ipv6]:port");
        if (LocalBind is not null && !BindAddress.TryParse(LocalBind, out _, out var whyLocal))
            problems.Add($"option 'local_bind': '{LocalBind}' is not a valid address ({whyLocal})");
        if (Framing is null)
            problems.Add("option 'framing': must be set");
        if (!Enum.IsDefined(EgressWhileDisconnected))
            problems.Add($"option 'egress_while_disconnected': {EgressWhileDisconnected} is not allowed; must be hold or drop");
        if (!Enum.IsDefined(EgressOverflow))
            problems.Add($"option 'egress_overflow': {EgressOverflow} is not allowed; must be drop, disconnect or wait");
        if (EgressWaitTimeout <= TimeSpan.Zero)
            problems.Add($"option 'egress_wait_timeout': {EgressWaitTimeout} is not allowed; must be positive");
        if (ConnectTimeout <= TimeSpan.Zero)
            problems.Add($"option 'connect_timeout': {ConnectTimeout} is not allowed; must be positive");
        if (ReconnectWait <= TimeSpan.Zero || ReconnectMaxWait < ReconnectWait)
            problems.Add($"options 'reconnect_wait'/'reconnect_max_wait': {ReconnectWait}/{ReconnectMaxWait} are not allowed; the wait must be positive and not above the maximum");
        if (ReconnectJitter is < 0 or > 1 || double.IsNaN(ReconnectJitter))
            problems.Add($"option 'reconnect_jitter': {ReconnectJitter} is not allowed; must be from 0 to 1");
        if (ReconnectAttempts < 0)
            problems.Add($"option 'reconnect_attempts': {ReconnectAttempts} is not allowed; must be 0 (forever) or more");
        StageTransportChoice.Validate(problems, Transport, tls: Tls is { Secure: true });
        Tls?.Validate(problems, server: false);
        Socket?.Validate(problems);
        if (problems.Count > 0)
            throw new StageOptionsException(problems);
    }
}
