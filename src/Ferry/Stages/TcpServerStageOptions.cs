using Ferry.Framing;
using Ferry.Transport;
using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>
/// Settings of a <see cref="TcpServerStage"/>, named after the seeds (snake_case names in errors and
/// config). Validated when the stage is built: every problem is reported at once.
/// </summary>
public sealed record TcpServerStageOptions
{
    /// <summary>The stage's name: its channels are <c>&lt;name&gt;/packet_group</c> and so on; no <c>/</c> (default <c>tcp_server</c>).</summary>
    public string Name { get; init; } = "tcp_server";

    /// <summary><c>host:port</c>, <c>:port</c> (all interfaces) or <c>[::1]:port</c>; port 0 picks a free port (default <c>127.0.0.1:9000</c>).</summary>
    public string Bind { get; init; } = "127.0.0.1:9000";

    /// <summary>Pending connections the kernel holds before they are accepted, 1..65535 (default 512).</summary>
    public int Backlog { get; init; } = 512;

    /// <summary>Simultaneous clients; one more is accepted and closed at once. 0 = unlimited (default 128).</summary>
    public int MaxConnections { get; init; } = 128;

    /// <summary>TCP options applied to every accepted connection (no-delay, keep-alive, kernel buffer sizes).</summary>
    public TcpSocketOptions Socket { get; init; } = new();

    /// <summary>Simultaneous connections from one address; one more is refused at accept with reason <c>ip_limit</c>. 0 = unlimited.</summary>
    public int MaxConnectionsPerIp { get; init; }

    /// <summary>Connections one address may open per <see cref="ConnectionRateWindow"/>; more are refused with reason <c>ip_limit</c>. 0 = unlimited.</summary>
    public int ConnectionRatePerIp { get; init; }

    /// <summary>The window of <see cref="ConnectionRatePerIp"/> (default 1 s).</summary>
    public TimeSpan ConnectionRateWindow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Networks (CIDR, e.g. <c>10.0.0.0/8</c>) clients must come from; empty = any. Others are refused with reason <c>denied</c>.</summary>
    public IReadOnlyList<string>? AllowFrom { get; init; }

    /// <summary>Networks (CIDR) whose clients are refused with reason <c>denied</c>, checked after <see cref="AllowFrom"/>.</summary>
    public IReadOnlyList<string>? DenyFrom { get; init; }

    /// <summary>Decides at accept, before any byte is read, whether a connection is taken (false: refused with reason <c>denied</c>). Runs on the service thread: keep it quick.
    /// One that throws refuses that connection too (reason <c>denied</c>, the detail naming the exception), is reported as an <c>Error</c> event of kind <c>Handler</c>, and the stage goes on.</summary>
    public Func<AcceptContext, bool>? AcceptFilter { get; init; }

    /// <summary>
    /// HAProxy's PROXY protocol: with <see cref="ProxyProtocol.V1"/>, <see cref="ProxyProtocol.V2"/> or
    /// <see cref="ProxyProtocol.Any"/>, a connection from a <see cref="TrustedProxies"/> address must begin
    /// with that header (before the framing and before TLS); the real client becomes the connection's peer
    /// and the proxy's address its <c>via</c>. Per-address limits, allow/deny and the accept filter then
    /// apply to the real client at the header. A trusted proxy that sends no header, a malformed one or
    /// one of another version is closed with reason <c>proxy_protocol</c>, as is a connection from any
    /// other address that sends one (others are served as direct clients). Default off.
    /// </summary>
    public ProxyProtocol ProxyProtocol { get; init; }

    /// <summary>Addresses or networks (CIDR, e.g. <c>10.0.0.5</c>, <c>10.0.0.0/8</c>) of the proxies whose PROXY headers are believed (<c>trusted_proxies</c>).</summary>
    public IReadOnlyList<string>? TrustedProxies { get; init; }

    /// <summary>A trusted proxy's connection must deliver its whole PROXY header within this long, or it is closed with reason <c>proxy_header_timeout</c> (default 10 s).</summary>
    public TimeSpan ProxyHeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How connections are served: <see cref="StageTransport.Auto"/> (default: epoll on Linux, streams
    /// elsewhere), <see cref="StageTransport.Epoll"/> (Linux only) or <see cref="StageTransport.Stream"/>
    /// (portable; also selectable on Linux).
    /// </summary>
    public StageTransport Transport { get; init; } = StageTransport.Auto;

    /// <summary>TLS (<c>tls</c>): certificate, CA bundle for mutual TLS, client certificate mode, handshake deadline. Off when null.</summary>
    public TlsOptions? Tls { get; init; }

    /// <summary>A client that sends nothing for this long is disconnected (<c>idle_timeout</c>). Zero = never (default).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long a connection whose client has finished sending (a half-close: it shut down its side, a FIN) stays
    /// open for answers (<c>half_close_linger</c>), so a client that sends its request, shuts down its side and then
    /// reads gets an answer that comes later through the bus (a proxied upstream, a worker). Egress for it is written
    /// as usual meanwhile; when the time is up, the connection closes (<c>remote_closed</c>) once what is queued is
    /// written. Zero (default) closes it as soon as what was queued when the FIN came is written, as Node does
    /// (<c>allowHalfOpen: false</c>). At most 1 hour; <see cref="IdleTimeout"/> does not apply while it lingers.
    /// A connection handler's connection always stays open for its handler's answer, whatever this says.
    /// </summary>
    public TimeSpan HalfCloseLinger { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long a connection the stage closes gracefully may keep its socket to finish the close (<c>close_linger</c>,
    /// default 2 s, on the stage's clock): what it still owes the client (TLS's last records and close_notify) goes out,
    /// then the FIN, and the client's bytes are read and discarded until it closes too, so that bytes it sent and the stage
    /// never read do not turn the close into a reset that destroys the answers the client has not read yet. A client that
    /// neither reads nor closes is closed on when the time is up. At most <see cref="MaxConnections"/> closed connections
    /// linger at once (when it is set): one more makes the one that has lingered longest close at once with a reset.
    /// Zero closes at once without waiting: what the socket takes now is sent, and a client whose bytes arrive unread
    /// gets a reset, which can destroy answers it has not read yet. From 1ms to 5 minutes, or 0.
    /// </summary>
    public TimeSpan CloseLinger { get; init; } = global::Ferry.Transport.CloseLinger.DefaultLimit;

    /// <summary>How bytes become packets and packets become bytes. Default <c>raw</c>; build one from a spec with <see cref="FramingSpec.Parse"/>.</summary>
    public IFraming Framing { get; init; } = RawFraming.Default;

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

    /// <summary>Packets per published group, 1..65536 (default 1).</summary>
    public int GroupSize { get; init; } = 1;

    /// <summary>A group that is not full is published this long after its first packet, 0..1 minute (default 1 ms).</summary>
    public TimeSpan GroupLinger { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Bytes of encoded egress a client may have waiting (the seed's <c>egress_buffer_size_b</c>, default 1 MiB).</summary>
    public int EgressBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>What happens to a message that does not fit a client's egress buffer: drop it (default), disconnect the client, or wait.</summary>
    public EgressOverflowPolicy EgressOverflow { get; init; } = EgressOverflowPolicy.Drop;

    /// <summary>With <see cref="EgressOverflowPolicy.Wait"/>: how long a publisher is held before the message is dropped (default 5 s).</summary>
    public TimeSpan EgressWaitTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Broadcasts (and "any one" messages) that arrive while no client is connected are kept, up to this many
    /// and up to <see cref="EgressBufferBytes"/> of them encoded, and delivered to the first client that connects,
    /// whose egress buffer they fit; beyond either bound the oldest are dropped and counted (a message larger than
    /// the buffer by itself is dropped instead). 0 = drop them (default).
    /// </summary>
    public int QueueWhenDisconnected { get; init; }

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

    /// <summary>Publish a <see cref="GroupMembershipEvent"/> on <c>&lt;name&gt;/events</c> when a connection joins or leaves a group (default off).</summary>
    public bool GroupNotices { get; init; }

    /// <summary>Bytes taken from a socket per receive, 256 bytes..16 MiB (default 64 KiB); with <c>raw</c> framing the largest packet.</summary>
    public int ReadBufferBytes { get; init; } = 64 * 1024;

    /// <summary>First wait before binding again after a failure (default 100 ms); doubles up to <see cref="BindRetryMaxDelay"/>.</summary>
    public TimeSpan BindRetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Cap of the bind retry delay (default 5 s); at least <see cref="BindRetryDelay"/>.</summary>
    public TimeSpan BindRetryMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Bind attempts before the stage gives up: it then stops and <c>StartAsync</c> fails with the bind
    /// error. 0 = keep retrying (default), 1 = fail at once, as a library that binds in its constructor does.
    /// </summary>
    public int BindAttempts { get; init; }

    /// <summary>Priority of the service thread (applied as the Linux thread's nice value); failures are reported as <see cref="StageErrorKind.Setup"/> errors.</summary>
    public ThreadPriority ThreadPriority { get; init; } = ThreadPriority.Normal;

    /// <summary>CPUs the service thread may run on; empty = any.</summary>
    public IReadOnlyList<int> ThreadProcessorAffinity { get; init; } = [];

    /// <summary>How long a graceful stop waits for egress to drain before closing connections (default 5 s).</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often <c>socket_stats</c> is published, at least 10 ms (default 1 s).</summary>
    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A copy whose lists are its own, taken by the stage before it validates: a caller's list changed after construction (a
    /// <c>List</c> given as <see cref="AllowFrom"/> or <see cref="ThreadProcessorAffinity"/>) changes nothing in force, and the
    /// stage's <c>Options</c> go on saying what is. Before, a changed affinity list was applied at start without having been
    /// validated, and a changed <see cref="AllowFrom"/> showed in <c>Options</c> while the stage kept the old one.
    /// </summary>
    internal TcpServerStageOptions Snapshot() => this with
    {
        AllowFrom = AllowFrom?.ToArray(),
        DenyFrom = DenyFrom?.ToArray(),
        TrustedProxies = TrustedProxies?.ToArray(),
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
        if (!BindAddress.TryParse(Bind, out _, out var why))
            problems.Add($"option 'bind': '{Bind}' is not a valid address ({why}); use host:port, :port or [ipv6]:port");
        if (HalfCloseLinger != TimeSpan.Zero && (HalfCloseLinger < TimeSpan.FromMilliseconds(1) || HalfCloseLinger > TimeSpan.FromHours(1)))
            problems.Add($"option 'half_close_linger': {DurationWords.Of(HalfCloseLinger)} is not allowed; must be 0 (close once what is queued is written) or from 1ms to 1h");
        StageOptionChecks.CloseLinger(problems, CloseLinger);
        if (Backlog < 1 || Backlog > 65535)
            problems.Add($"option 'backlog': {Backlog} is not allowed; must be from 1 to 65535");
        if (MaxConnectionsPerIp < 0)
            problems.Add($"option 'max_connections_per_ip': {MaxConnectionsPerIp} is not allowed; must be 0 (unlimited) or more");
        if (ConnectionRatePerIp < 0)
            problems.Add($"option 'connection_rate_per_ip': {ConnectionRatePerIp} is not allowed; must be 0 (unlimited) or more");
        if (ConnectionRateWindow <= TimeSpan.Zero)
            problems.Add($"option 'connection_rate_window': {DurationWords.Of(ConnectionRateWindow)} is not allowed; must be positive, e.g. 1s");
        foreach (var (name, list) in new[] { ("allow_from", AllowFrom), ("deny_from", DenyFrom) })
            foreach (var cidr in list ?? [])
                if (!Internal.NetworkText.TryParse(cidr, addressAlone: false, out _, out var problem))
                    problems.Add($"option '{name}': '{cidr}' {problem}");
        ProxyProtocolChecks.Validate(problems, ProxyProtocol, TrustedProxies, ProxyHeaderTimeout);
        if (MaxConnections < 0)
            problems.Add($"option 'max_connections': {MaxConnections} is not allowed; must be 0 (unlimited) or more");
        if (Framing is null)
            problems.Add("option 'framing': must be set");
        if (EgressWaitTimeout <= TimeSpan.Zero)
            problems.Add($"option 'egress_wait_timeout': {DurationWords.Of(EgressWaitTimeout)} is not allowed; must be positive, e.g. 5s");
        if (QueueWhenDisconnected < 0)
            problems.Add($"option 'queue_when_disconnected': {QueueWhenDisconnected} is not allowed; must be 0 (off) or more");
        if (!Enum.IsDefined(EgressOverflow))
            problems.Add($"option 'egress_overflow': {EgressOverflow} is not allowed; must be drop, disconnect or wait");
        if (BindRetryDelay <= TimeSpan.Zero || BindRetryMaxDelay < BindRetryDelay)
        {
            if (BindRetryDelay <= TimeSpan.Zero)
                problems.Add($"option 'bind_retry_delay': {DurationWords.Of(BindRetryDelay)} is not allowed; must be positive, e.g. 100ms");
            else
                problems.Add($"option 'bind_retry_delay': {DurationWords.Of(BindRetryDelay)} is longer than '{StageOptionsException.Mark("bind_retry_max_delay")}' {DurationWords.Of(BindRetryMaxDelay)}; "
                    + $"lower {StageOptionsException.Mark("bind_retry_delay")} or raise {StageOptionsException.Mark("bind_retry_max_delay")}");
        }
        if (BindAttempts < 0)
            problems.Add($"option 'bind_attempts': {BindAttempts} is not allowed; must be 0 (retry forever) or more");
        if (!Enum.IsDefined(ThreadPriority))
            problems.Add($"option 'thread_priority': {ThreadPriority} is not allowed; must be lowest, below_normal, normal, above_normal or highest");
        if (StopGracePeriod < TimeSpan.Zero)
            problems.Add($"option 'stop_grace_period': {DurationWords.Of(StopGracePeriod)} is not allowed; must be 0 or positive");
        StageTransportChoice.Validate(problems, Transport, tls: Tls is { Secure: true }, server: true);
        Tls?.Validate(problems, server: true);
        StageOptionChecks.Socket(problems, Socket);
        if (problems.Count > 0)
            throw new StageOptionsException(Name, problems, nameof(TcpServerStageOptions));
    }
}
