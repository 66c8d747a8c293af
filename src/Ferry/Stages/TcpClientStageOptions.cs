using Ferry.Framing;
using Ferry.Stages.Internal;
using Ferry.Transport;

namespace Ferry.Stages;

/// <summary>What a client stage does with egress while it is not connected.</summary>
public enum DisconnectedEgressPolicy
{
    /// <summary>Keep it, up to <c>egress_buffer_bytes</c> of encoded messages (each costs its framed length, at least one byte,
    /// so what is held fits the egress buffer when it is sent), and send it after reconnecting: the oldest held
    /// messages are dropped (and counted) to make room for a new one; a message larger than the bound by itself is
    /// dropped (and counted) and <see cref="TcpClientStage.SendAsync"/> returns false for it. What is still held when the
    /// stage stops or gives up is dropped and counted.</summary>
    Hold,
    /// <summary>Drop it and count it (<see cref="TcpClientStage.SendAsync"/> returns false).</summary>
    Drop,
}

/// <summary>Settings of a <see cref="TcpClientStage"/> (the seeds' client mode), validated when the stage is built.</summary>
public sealed record TcpClientStageOptions
{
    /// <summary>The stage's name: its channels are <c>&lt;name&gt;/packet_group</c> and so on; no <c>/</c> (default <c>tcp_client</c>).</summary>
    public string Name { get; init; } = "tcp_client";

    /// <summary>The remote <c>host:port</c> or <c>[ipv6]:port</c>, port 1..65535 (default <c>127.0.0.1:9000</c>). A host name is
    /// resolved at every attempt; its addresses are dialled in turn (IPv4 first) until one answers.</summary>
    public string Connect { get; init; } = "127.0.0.1:9000";

    /// <summary>Optional local source address (<c>host:port</c>, port 0 = any).</summary>
    public string? LocalBind { get; init; }

    /// <summary>TCP options of the connection (no-delay, keep-alive, kernel buffer sizes).</summary>
    public TcpSocketOptions Socket { get; init; } = new();

    /// <summary>
    /// How connections are served: <see cref="StageTransport.Auto"/> (default: epoll on Linux, streams
    /// elsewhere), <see cref="StageTransport.Epoll"/> (Linux only) or <see cref="StageTransport.Stream"/>
    /// (portable; also selectable on Linux).
    /// </summary>
    public StageTransport Transport { get; init; } = StageTransport.Auto;

    /// <summary>TLS (<c>tls</c>): server name, CA bundle, client certificate, handshake deadline. Off when null.</summary>
    public TlsOptions? Tls { get; init; }

    /// <summary>How bytes become packets and packets become bytes. Default <c>raw</c>; build one from a spec with <see cref="FramingSpec.Parse"/>.</summary>
    public IFraming Framing { get; init; } = RawFraming.Default;

    /// <summary>Packets per published group, 1..65536 (default 1).</summary>
    public int GroupSize { get; init; } = 1;

    /// <summary>A group that is not full is published this long after its first packet, 0..1 minute (default 1 ms).</summary>
    public TimeSpan GroupLinger { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Bytes of encoded egress that may wait for the socket (default 1 MiB); also the bound, in encoded bytes,
    /// of what is held while disconnected.</summary>
    public int EgressBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>What happens to egress while not connected: held for the next connection (default) or dropped.</summary>
    public DisconnectedEgressPolicy EgressWhileDisconnected { get; init; } = DisconnectedEgressPolicy.Hold;

    /// <summary>What happens to a message when the egress buffer is full while connected (drop, disconnect or wait).</summary>
    public EgressOverflowPolicy EgressOverflow { get; init; } = EgressOverflowPolicy.Drop;

    /// <summary>With <see cref="EgressOverflowPolicy.Wait"/>: how long a publisher is held before the message is dropped.</summary>
    public TimeSpan EgressWaitTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>No data from the remote for this long: drop the connection and reconnect. Zero = never (default).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long a connection the stage closes gracefully (idle timeout, a stop) may keep its socket for the remote to take what
    /// it is owed and close too (<c>close_linger</c>, default 2 s, on the stage's clock; the remote's bytes are discarded
    /// meanwhile), as <see cref="TcpServerStageOptions.CloseLinger"/>. One closed connection lingers at a time: the stage has
    /// one connection, and a second close while one lingers resets the older. Zero closes at once (a reset when the remote's
    /// bytes arrive unread). From 1ms to 5 minutes, or 0.
    /// </summary>
    public TimeSpan CloseLinger { get; init; } = global::Ferry.Transport.CloseLinger.DefaultLimit;

    /// <summary>
    /// A frame that has started must complete within this long, or the connection is closed with reason
    /// <c>frame_timeout</c> (a client trickling a frame cannot hold it for ever). Default 30 s; zero = no limit.
    /// </summary>
    public TimeSpan FrameTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Bytes the whole stage may hold in unfinished frames (the buffers kept between reads). A connection
    /// whose partial frame would take the total over it is closed with reason <c>memory_limit</c>.
    /// Default 64 MiB; zero = no limit.
    /// </summary>
    public long MaxPendingBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// The most named groups (rooms) one connection may be in at once (<c>max_groups_per_connection</c>); a join
    /// beyond it is refused (<see cref="InvalidOperationException"/> from <c>JoinGroup</c>, an <c>Error</c> event for a
    /// control command) and counted in <see cref="SocketStats.GroupJoinsRefusedTotal"/>. Joins come from code, handlers
    /// and the control topic, which remote publishers may feed: the bound keeps a buggy or hostile producer from growing
    /// the group registry without end. Default 1024, far above any room-per-user design (a chat user in a few dozen
    /// rooms, a subscriber to a few hundred topics) and still a bounded cost per connection; 0 = unlimited.
    /// </summary>
    public int MaxGroupsPerConnection { get; init; } = 1024;

    /// <summary>
    /// The longest group name a join takes, in characters (UTF-16 code units, <see cref="string.Length"/>), 1..65536
    /// (<c>max_group_name_length</c>); a longer one is refused (<see cref="ArgumentException"/> from <c>JoinGroup</c>, an
    /// <c>Error</c> event for a control command) and counted in <see cref="SocketStats.GroupJoinsRefusedTotal"/>. Default 256,
    /// the bound the NATS control subject puts on <c>payload.group</c>: a name lives as long as its group and is carried
    /// by every joined/left notice.
    /// </summary>
    public int MaxGroupNameLength { get; init; } = 256;

    /// <summary>How long resolving the host name, and then the connect to each of its addresses, may take (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Wait after a failed attempt or a lost connection (default 1 s); doubles per failure up to <see cref="ReconnectMaxWait"/>.</summary>
    public TimeSpan ReconnectWait { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap of the reconnect back-off (default 30 s); at least <see cref="ReconnectWait"/>.</summary>
    public TimeSpan ReconnectMaxWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Random spread applied to every wait, as a fraction 0..1 (default 0.2 = ±20 %), so many clients do not retry in step.</summary>
    public double ReconnectJitter { get; init; } = 0.2;

    /// <summary>Attempts before giving up; 0 = retry forever (default). An attempt succeeds when the connection is ready for messages
    /// (after TLS and a session framing's handshake): one that is refused there is a failed attempt. Under TLS a server may refuse
    /// the client after the client's side of the handshake is done (TLS 1.3 mutual TLS; an SslStream server under 1.2 too), so a
    /// TLS connection that the server ends (an alert, a close or a reset) before it has sent anything and within
    /// <see cref="TlsOptions.HandshakeTimeout"/> of its opening is a failed attempt as well, reported as a failed TLS handshake.
    /// A stage that gives up drops (and counts) the egress it held.</summary>
    public int ReconnectAttempts { get; init; }

    /// <summary>A connection that stayed up this long resets the back-off to <see cref="ReconnectWait"/> (default 10 s).</summary>
    public TimeSpan HealthyAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes taken from the socket per receive, 256 bytes..16 MiB (default 64 KiB); with <c>raw</c> framing the largest packet.</summary>
    public int ReadBufferBytes { get; init; } = 64 * 1024;

    /// <summary>Priority of the service thread (applied as the Linux thread's nice value); failures are reported as <see cref="StageErrorKind.Setup"/> errors.</summary>
    public ThreadPriority ThreadPriority { get; init; } = ThreadPriority.Normal;

    /// <summary>CPUs the service thread may run on; empty = any.</summary>
    public IReadOnlyList<int> ThreadProcessorAffinity { get; init; } = [];

    /// <summary>How long a graceful stop waits for egress to drain before closing the connection (default 5 s).</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often <c>socket_stats</c> is published, at least 10 ms (default 1 s).</summary>
    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Why <c>connect</c> is no remote address, with the ports a remote may have (1 to 65535): the address parser's own words
    /// are a listening address's ("port 'x' is not a number from 0 to 65535"), and a client refuses port 0.
    /// </summary>
    private static string RemoteProblem(string why, BindAddress? parsed)
    {
        if (why.StartsWith("port ", StringComparison.Ordinal) && why.IndexOf(" is not", StringComparison.Ordinal) is var end and > 0)
            return $"{why[..end]} is not a number from 1 to 65535";
        if (why.Length > 0)
            return why;
        if (parsed is { IsAnyHost: true })
            return "needs a host and a port from 1 to 65535";
        return "port 0 is for listening on any free port; a client needs the port it connects to, from 1 to 65535";
    }

    /// <summary>A copy whose lists are its own, taken by the stage before it validates (see <see cref="TcpServerStageOptions"/>'s).</summary>
    internal TcpClientStageOptions Snapshot() => this with
    {
        ThreadProcessorAffinity = ThreadProcessorAffinity?.ToArray()!,
        Tls = Tls?.Snapshot(),
    };

    /// <summary>Checks every option; the stage's constructor calls it.</summary>
    /// <exception cref="StageOptionsException">One or more options are invalid; it names every one.</exception>
    public void Validate()
    {
        var problems = new List<string>();
        StageOptionChecks.Common(problems, Name, GroupSize, GroupLinger, EgressBufferBytes, IdleTimeout, ReadBufferBytes, ThreadProcessorAffinity, StatsInterval);
        StageOptionChecks.Limits(problems, FrameTimeout, MaxPendingBytes);
        StageOptionChecks.Groups(problems, MaxGroupsPerConnection, MaxGroupNameLength);
        StageOptionChecks.CloseLinger(problems, CloseLinger);
        if (!BindAddress.TryParse(Connect, out var remote, out var why) || remote.IsAnyHost || remote.Port == 0)
            problems.Add($"option 'connect': '{Connect}' is not a remote address ({RemoteProblem(why, remote)}); use host:port or [ipv6]:port");
        if (LocalBind is not null && !BindAddress.TryParse(LocalBind, out _, out var whyLocal))
            problems.Add($"option 'local_bind': '{LocalBind}' is not a valid address ({whyLocal})");
        if (Framing is null)
            problems.Add("option 'framing': must be set");
        if (!Enum.IsDefined(EgressWhileDisconnected))
            problems.Add($"option 'egress_while_disconnected': {EgressWhileDisconnected} is not allowed; must be hold or drop");
        if (!Enum.IsDefined(EgressOverflow))
            problems.Add($"option 'egress_overflow': {EgressOverflow} is not allowed; must be drop, disconnect or wait");
        Positive(problems, "egress_wait_timeout", EgressWaitTimeout, "5s");
        Positive(problems, "connect_timeout", ConnectTimeout, "10s");
        // Which of the two to change, as the CLI's check says: a wait of 0 is wrong by itself; a positive one above its cap
        // is wrong with it, and either may be the mistyped one.
        if (ReconnectWait <= TimeSpan.Zero)
            Positive(problems, "reconnect_wait", ReconnectWait, "1s");
        else if (ReconnectMaxWait < ReconnectWait)
            problems.Add($"option 'reconnect_wait': {DurationWords.Of(ReconnectWait)} is longer than '{StageOptionsException.Mark("reconnect_max_wait")}' {DurationWords.Of(ReconnectMaxWait)}; "
                + $"the first wait must not be above the cap: lower {StageOptionsException.Mark("reconnect_wait")} or raise {StageOptionsException.Mark("reconnect_max_wait")}");
        if (ReconnectJitter is < 0 or > 1 || double.IsNaN(ReconnectJitter))
            problems.Add($"option 'reconnect_jitter': {ReconnectJitter} is not allowed; must be from 0 to 1");
        // Negative would count every connection healthy at once, so a server that accepts and drops would be dialled without back-off.
        if (HealthyAfter < TimeSpan.Zero)
            problems.Add($"option 'healthy_after': {DurationWords.Of(HealthyAfter)} is not allowed; must be 0 or more, e.g. 10s");
        if (ReconnectAttempts < 0)
            problems.Add($"option 'reconnect_attempts': {ReconnectAttempts} is not allowed; must be 0 (forever) or more");
        StageTransportChoice.Validate(problems, Transport, tls: Tls is { Secure: true }, server: false);
        Tls?.Validate(problems, server: false);
        StageOptionChecks.Socket(problems, Socket);
        if (problems.Count > 0)
            throw new StageOptionsException(Name, problems, nameof(TcpClientStageOptions));
    }

    private static void Positive(List<string> problems, string option, TimeSpan value, string example)
    {
        if (value <= TimeSpan.Zero)
            problems.Add($"option '{option}': {DurationWords.Of(value)} is not allowed; use a duration above 0, e.g. {example}");
    }
}
