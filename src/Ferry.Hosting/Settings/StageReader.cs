using System.Text;
using Ferry.Framing;
using Ferry.Framing.Internal;
using Ferry.Stages;
using Ferry.Stages.Internal;
using Ferry.Transport;

namespace Ferry.Hosting.Settings;

/// <summary>
/// Reads one stage block (<c>name</c>, <c>type</c>, <c>config</c>; or the config keys flat beside them)
/// into a <see cref="StageDeclaration"/>, collecting every problem. Accepts the seeds' own spellings:
/// seed 003's <c>type: io_tcp</c> with <c>mode</c>, <c>bind</c>/<c>connect</c>, <c>delimiter*</c>, and
/// seed 004's <c>host</c>, <c>port</c>, <c>timeout_seconds</c>, <c>max_connections</c>, <c>tls</c> (<see cref="TlsBlockReader"/>).
/// </summary>
internal static class StageReader
{
    /// <summary>The stage types a block may name.</summary>
    public static readonly IReadOnlyList<string> Types = ["tcp_server", "tcp_client", "io_tcp", "bridge_server", "bridge_client"];

    private static readonly string[] StageKeys = ["name", "type", "mode", "config"];

    private static readonly string[] FramingKeys = ["framing", "delimiter", "delimiter_position", "delimiter_include", "delimiter_append"];

    private static readonly string[] CommonKeys =
    [
        "group_size", "group_linger", "egress_buffer", "egress_overflow", "egress_wait_timeout",
        "idle_timeout", "timeout_seconds", "read_buffer", "stop_grace_period", "stats_interval", "tls",
        "frame_timeout", "max_pending_bytes", "transport", "max_groups_per_connection", "max_group_name_length",
    ];

    /// <summary>Every key a server stage's config takes.</summary>
    public static readonly IReadOnlyList<string> ServerKeys =
    [
        "bind", "host", "port", "backlog", "max_connections", .. FramingKeys, .. CommonKeys,
        "queue_when_disconnected", "group_notices", "bind_retry_delay", "bind_retry_max_delay", "bind_attempts",
        "proxy_protocol", "trusted_proxies", "proxy_header_timeout",
        "allow_from", "deny_from", "max_connections_per_ip", "connection_rate_per_ip", "connection_rate_window",
        "half_close_linger", "close_linger",
    ];

    /// <summary>Every key a client stage's config takes.</summary>
    public static readonly IReadOnlyList<string> ClientKeys =
    [
        "connect", "host", "port", "local_bind", .. FramingKeys, .. CommonKeys, "egress_while_disconnected",
        "connect_timeout", "reconnect_wait", "reconnect_max_wait", "reconnect_jitter", "reconnect_attempts", "healthy_after",
        "close_linger",
    ];

    /// <summary>Every key a bridge end's config takes.</summary>
    public static readonly IReadOnlyList<string> BridgeKeys = ["address", "host", "port", "handshake_timeout", "max_payload", "frame_timeout", "stop_grace_period"];

    /// <summary>
    /// Reads a stage block. <paramref name="defaultName"/> is used when the block has no <c>name</c> (a
    /// configuration section keyed by name). Returns null when the block has problems (all added to <paramref name="problems"/>).
    /// </summary>
    public static StageDeclaration? Read(ISettingNode block, List<SettingProblem> problems, string? defaultName = null)
        => Read(block, problems, defaultName, stopGracePeriod: null);

    /// <summary>
    /// Reads a stage block as <see cref="Read(ISettingNode, List{SettingProblem}, string)"/>; a stage (tcp or bridge end) that sets no
    /// <c>stop_grace_period</c> gets <paramref name="stopGracePeriod"/> (the Generic Host's shutdown timeout), or the library's default when null.
    /// </summary>
    internal static StageDeclaration? Read(ISettingNode block, List<SettingProblem> problems, string? defaultName, TimeSpan? stopGracePeriod)
        => Read(block, problems, defaultName, stopGracePeriod, out _);

    /// <summary>
    /// Reads a stage block as <see cref="Read(ISettingNode, List{SettingProblem}, string, TimeSpan?)"/>, and gives the declaration as far
    /// as it was read in <paramref name="asRead"/>, problems or not (null when not even its type is known): what a file's other checks
    /// (two stages on one address) can still look at, so that a stage with a mistake elsewhere is not left out of them.
    /// </summary>
    internal static StageDeclaration? Read(ISettingNode block, List<SettingProblem> problems, string? defaultName, TimeSpan? stopGracePeriod,
        out StageDeclaration? asRead)
    {
        asRead = null;
        var before = problems.Count;
        // The stage's own keys (name, type, mode, config) named in its messages, spelled as the block's keys are.
        var say = KeySpelling.Of(block.Children.Select(c => c.Key));
        if (block.Value is not null || block.IsSequence)
        {
            problems.Add(new SettingProblem(block.Where, block.Path, block.Value, $"must be a block with {say.Say("name")}, {say.Say("type")} and {say.Say("config")}"));
            return null;
        }
        ISettingNode? nameNode = null, typeNode = null, modeNode = null, configNode = null;
        var flat = new List<ISettingNode>();
        foreach (var child in block.Children)
        {
            switch (SettingEntries.Normalize(child.Key))
            {
                case "name": nameNode = child; break;
                case "type": typeNode = child; break;
                case "mode": modeNode = child; break;
                case "config": configNode = child; break;
                default: flat.Add(child); break;
            }
        }
        var name = nameNode?.Value ?? defaultName;
        // The library's own rule (StageNames: no '/', '=', control characters, …), so a file, appsettings and code accept the same
        // names. '=' is said at length: it ends the key of --set stages.NAME.config.KEY=VALUE (a value may hold '=', as a framing
        // spec does, so the key cannot end at a later one) and cannot be in an environment variable's name.
        if (StageNames.Problem(name) is { } why)
        {
            problems.Add(new SettingProblem(nameNode?.Where ?? block.Where, nameNode?.Path ?? $"{block.Path}.{say.Say("name")}", nameNode?.Value ?? defaultName,
                nameNode is null && defaultName is null ? $"missing key '{say.Say("name")}'; every stage needs a unique name without '/' or '='"
                : nameNode is not null && nameNode.Value is null && (nameNode.IsSequence || nameNode.Children.Count > 0)
                    ? "must be a single value, not a block or a list; every stage needs a unique name without '/' or '='"
                : nameNode is not null && nameNode.Value is null ? "is null; every stage needs a unique name without '/' or '='"
                : name!.Contains('=') ? "is not allowed; a stage name has no '=': --set stages.NAME.config.KEY=VALUE ends the key at the first '=', "
                    + "so the stage could not be set by name (and no FERRY__ variable can hold one)"
                : $"is not allowed ({why}); {StageNames.Allowed}"));
            name = null;
        }
        var configChildren = new List<ISettingNode>();
        var configInBlock = new List<ISettingNode>();
        if (configNode is not null)
        {
            if (configNode.Value is not null || configNode.IsSequence)
                problems.Add(new SettingProblem(configNode.Where, configNode.Path, configNode.Value, "must be a block of keys"));
            else
                configInBlock.AddRange(configNode.Children);
        }
        // The mode may sit beside type (seed 003 puts it in config).
        var modeInConfig = configInBlock.FirstOrDefault(c => SettingEntries.Normalize(c.Key) == "mode");
        if (modeInConfig is not null)
        {
            configInBlock.Remove(modeInConfig);
            modeNode ??= modeInConfig;
        }

        var type = typeNode?.Value?.Trim();
        if (type is null)
        {
            if (typeNode is not null && modeNode is null)
            {
                problems.Add(new SettingProblem(typeNode.Where, typeNode.Path, null, $"is null (allowed: {string.Join(", ", Types)})"));
                return null;
            }
            if (modeNode is null)
            {
                problems.Add(new SettingProblem(block.Where, $"{block.Path}.{say.Say("type")}", null, $"missing key '{say.Say("type")}' (allowed: {string.Join(", ", Types)})"));
                return null;
            }
            type = "io_tcp";
        }
        else if (Types.FirstOrDefault(t => string.Equals(t, type, StringComparison.OrdinalIgnoreCase)) is { } typeKnown)
        {
            // Ignoring case, as the other words of a block are (mode: Server, egress_overflow: Drop): TCP_Server is tcp_server.
            type = typeKnown;
        }
        else
        {
            problems.Add(new SettingProblem(typeNode!.Where, typeNode.Path, type, $"is not a stage type{Suggest.DidYouMean(type, Types)} (allowed: {string.Join(", ", Types)})"));
            // A type that is a near miss (tcp_sever) is read as the one it nearly is, so that the stage's other problems are listed
            // with this one rather than after it is fixed; the stage is not declared either way.
            if (Suggest.Closest(type, Types) is not { } meant)
                return null;
            type = meant;
        }
        var seed003 = type == "io_tcp";
        if (seed003)
        {
            var written = modeNode?.Value?.Trim();
            var mode = written?.ToLowerInvariant(); // Server is server, as the type's case is not read either
            if (mode is not ("server" or "client"))
            {
                problems.Add(new SettingProblem(modeNode?.Where ?? block.Where, modeNode?.Path ?? $"{block.Path}.{say.Say("config")}.{say.Say("mode")}", written,
                    modeNode is null ? $"missing key '{say.Say("mode")}' for {say.Say("type")} io_tcp (allowed: server, client)"
                    : mode is null ? "is null (allowed: server, client)"
                    : $"is not allowed{Suggest.DidYouMean(written!, ["server", "client"])} (allowed: server, client)"));
                // As a near-miss type: a near-miss mode (sever) is read as the one it nearly is, for the stage's other problems.
                if (mode is null || Suggest.Closest(mode, ["server", "client"]) is not { } meantMode)
                    return null;
                mode = meantMode;
            }
            type = mode == "server" ? "tcp_server" : "tcp_client";
        }
        else if (modeNode is not null && modeNode.Value?.Trim() != (type.EndsWith("server", StringComparison.Ordinal) ? "server" : "client"))
        {
            problems.Add(new SettingProblem(modeNode.Where, modeNode.Path, modeNode.Value, $"contradicts {say.Say("type")} '{type}'; leave {say.Say("mode")} out, or use {say.Say("type")} io_tcp"));
        }

        // Keys written beside name and type are config keys of the stage's type; any other is a stage-level typo
        // (nme, confg), offered the stage's own keys as well as the config keys.
        var (configKeys, what) = type switch
        {
            "tcp_server" => (ServerKeys, "a tcp_server stage"),
            "tcp_client" => (ClientKeys, "a tcp_client stage"),
            _ => (BridgeKeys, $"a {type} stage"),
        };
        var known = configKeys.Select(SettingEntries.Normalize).ToHashSet(StringComparer.Ordinal);
        foreach (var node in flat)
        {
            if (known.Contains(SettingEntries.Normalize(node.Key))
                || (SettingEntries.KeyOfPropertyName(node.Key) is { } key && known.Contains(SettingEntries.Normalize(key))))
            {
                configChildren.Add(node);
                continue;
            }
            string[] stageLevel = [.. StageKeys, .. configKeys];
            problems.Add(new SettingProblem(node.Where, node.Path, null,
                SettingEntries.UnknownKey(node.Key, block.Children.Select(c => c.Key), stageLevel, $" in {what}", type)));
        }
        configChildren.AddRange(configInBlock);

        StageDeclaration? declaration = type switch
        {
            "tcp_server" => ReadServer(name ?? "?", block.Where, block.Path, configChildren, problems, seed003, stopGracePeriod),
            "tcp_client" => ReadClient(name ?? "?", block.Where, block.Path, configChildren, problems, seed003, stopGracePeriod),
            _ => ReadBridge(name ?? "?", block.Where, block.Path, type == "bridge_server", configChildren, problems, stopGracePeriod),
        };
        asRead = name is not null ? declaration : null;
        return problems.Count == before && name is not null ? declaration : null;
    }

    /// <summary>
    /// How often a server stage of a run file or a Generic Host tries to bind unless told (<c>bind_attempts</c>,
    /// <c>BindAttempts</c>): once. The library's own default (0, retry for ever) suits a stage that may start before its
    /// port is free; a service that cannot listen should fail its start, loudly, and be restarted by its manager.
    /// </summary>
    internal const int HostedBindAttempts = 1;

    private static ServerStageDeclaration ReadServer(string name, string where, string path, List<ISettingNode> nodes, List<SettingProblem> problems, bool seed003,
        TimeSpan? stopGracePeriod)
    {
        var e = new SettingEntries(nodes, ServerKeys, problems, "a tcp_server stage", "tcp_server");
        // Binds once unless bind_attempts says otherwise (HostedBindAttempts): a run file's or a host's port that is taken
        // fails the start at once, for the service manager to see, instead of a start that waits for ever.
        var o = new TcpServerStageOptions { Name = name, MaxConnections = seed003 ? 4096 : 128, BindAttempts = HostedBindAttempts };
        if (stopGracePeriod is { } defaultGrace)
            o = o with { StopGracePeriod = defaultGrace };
        var bind = Address(e, "bind", problems);
        if (bind is not null)
            o = o with { Bind = bind };
        else if (!e.Has("bind") && !e.Has("host") && !e.Has("port"))
            // Required, as seeds 003 (bind) and 004 (host, port) make it: the options' own default (127.0.0.1:9000, ferry
            // serve's) would have a stage whose address was forgotten listen somewhere nobody wrote down.
            e.Missing("bind", where, $"{path}.{e.Say("config")}.{e.Say("bind")}", seed003
                ? $"(io_tcp {e.Say("mode")} server needs it, e.g. \":3034\")"
                : $"(a tcp server needs the address it listens on, e.g. \"127.0.0.1:9000\", or \":9000\" for every interface; or {e.Say("host")} and {e.Say("port")})");
        if (e.Int("backlog", 1, 65535) is { } backlog) o = o with { Backlog = backlog };
        // Seed 004 types max_connections as uint32: its whole range is accepted, and a count above int.MaxValue is a limit
        // no process reaches (descriptors run out first), so it stands as int.MaxValue.
        if (e.Long("max_connections", 0, uint.MaxValue, " (0 = unlimited)") is { } max) o = o with { MaxConnections = (int)Math.Min(max, int.MaxValue) };
        if (Framing(e, seed003) is { } framing) o = o with { Framing = framing };
        if (e.Int("group_size", 1, 65536) is { } groupSize) o = o with { GroupSize = groupSize };
        if (e.Duration("group_linger") is { } linger) o = o with { GroupLinger = linger };
        if (e.Size("egress_buffer", 1) is { } egress) o = o with { EgressBufferBytes = egress };
        if (Overflow(e) is { } overflow) o = o with { EgressOverflow = overflow };
        if (e.Duration("egress_wait_timeout") is { } wait) o = o with { EgressWaitTimeout = wait };
        if (Idle(e) is { } idle) o = o with { IdleTimeout = idle };
        if (e.Size("read_buffer", 256) is { } read) o = o with { ReadBufferBytes = read };
        if (e.Duration("stop_grace_period") is { } grace) o = o with { StopGracePeriod = grace };
        if (e.Duration("stats_interval") is { } stats) o = o with { StatsInterval = stats };
        if (e.Int("queue_when_disconnected", 0, 1_000_000) is { } queue) o = o with { QueueWhenDisconnected = queue };
        if (e.Bool("group_notices") is { } notices) o = o with { GroupNotices = notices };
        if (FirstAndCap(e, "bind_retry_delay", "bind_retry_max_delay", o.BindRetryDelay, o.BindRetryMaxDelay) is { } retry)
            o = o with { BindRetryDelay = retry.First, BindRetryMaxDelay = retry.Cap };
        if (e.Int("bind_attempts", 0, int.MaxValue, " (0 = retry forever)") is { } attempts) o = o with { BindAttempts = attempts };
        if (e.Choice("proxy_protocol", ("off", ProxyProtocol.Off), ("v1", ProxyProtocol.V1), ("v2", ProxyProtocol.V2), ("any", ProxyProtocol.Any)) is { } proxy)
            o = o with { ProxyProtocol = proxy };
        if (e.Words("trusted_proxies") is { } trusted) o = o with { TrustedProxies = trusted };
        if (e.Duration("proxy_header_timeout") is { } proxyTimeout)
        {
            o = o with { ProxyHeaderTimeout = proxyTimeout };
            // The options cannot tell a timeout set from the default: the file can (the flags say the same of --proxy-header-timeout).
            // (A proxy_protocol that is not one of its words is told at its own key: this would only add a guess.)
            if (o.ProxyProtocol == ProxyProtocol.Off && (e.Node("proxy_protocol") is not { } written || string.Equals(written.Value, "off", StringComparison.OrdinalIgnoreCase)))
                e.Problem("proxy_header_timeout", $"has no effect while {e.Say("proxy_protocol")} is off; set it to v1, v2 or any, or leave proxy_header_timeout out");
        }
        if (e.Duration("frame_timeout") is { } frameTimeout) o = o with { FrameTimeout = frameTimeout };
        if (e.Size("max_pending_bytes", 0) is { } pending) o = o with { MaxPendingBytes = pending };
        if (ReadTransport(e) is { } transport) o = o with { Transport = transport };
        if (e.Int("max_groups_per_connection", 0, int.MaxValue, " (0 = unlimited)") is { } maxGroups) o = o with { MaxGroupsPerConnection = maxGroups };
        if (e.Int("max_group_name_length", 1, StageOptionChecks.LongestGroupNameLimit, " (characters)") is { } maxName) o = o with { MaxGroupNameLength = maxName };
        if (e.Words("allow_from") is { } allow) o = o with { AllowFrom = allow };
        if (e.Words("deny_from") is { } deny) o = o with { DenyFrom = deny };
        if (e.Int("max_connections_per_ip", 0, int.MaxValue, " (0 = unlimited)") is { } perIp) o = o with { MaxConnectionsPerIp = perIp };
        if (e.Int("connection_rate_per_ip", 0, int.MaxValue, $" (connections per {e.Say("connection_rate_window")}; 0 = unlimited)") is { } rate) o = o with { ConnectionRatePerIp = rate };
        if (e.Duration("connection_rate_window") is { } window) o = o with { ConnectionRateWindow = window };
        if (e.Duration("half_close_linger") is { } halfClose) o = o with { HalfCloseLinger = halfClose };
        if (e.Duration("close_linger") is { } closeLinger) o = o with { CloseLinger = closeLinger };
        if (TlsBlockReader.Read(e.Node("tls"), server: true, problems, e.Spelling) is { } serverTls) o = o with { Tls = serverTls };
        Check(() => o.Validate(), e, where, path, problems);
        return new ServerStageDeclaration(name, where, o) { AddressWhere = (e.Node("bind") ?? e.Node("port") ?? e.Node("host"))?.Where, Spelling = e.Spelling };
    }

    private static ClientStageDeclaration ReadClient(string name, string where, string path, List<ISettingNode> nodes, List<SettingProblem> problems, bool seed003,
        TimeSpan? stopGracePeriod)
    {
        var e = new SettingEntries(nodes, ClientKeys, problems, "a tcp_client stage", "tcp_client");
        var o = new TcpClientStageOptions { Name = name };
        if (stopGracePeriod is { } defaultGrace)
            o = o with { StopGracePeriod = defaultGrace };
        var connect = Address(e, "connect", problems);
        if (connect is not null)
            o = o with { Connect = connect };
        else if (!e.Has("connect") && !e.Has("host") && !e.Has("port"))
            e.Missing("connect", where, $"{path}.{e.Say("config")}.{e.Say("connect")}", "(a tcp client needs the remote address, e.g. \"10.0.1.5:4000\")");
        if (e.Text("local_bind") is { } local) o = o with { LocalBind = local };
        if (Framing(e, seed003) is { } framing) o = o with { Framing = framing };
        if (e.Int("group_size", 1, 65536) is { } groupSize) o = o with { GroupSize = groupSize };
        if (e.Duration("group_linger") is { } linger) o = o with { GroupLinger = linger };
        if (e.Size("egress_buffer", 1) is { } egress) o = o with { EgressBufferBytes = egress };
        if (Overflow(e) is { } overflow) o = o with { EgressOverflow = overflow };
        if (e.Duration("egress_wait_timeout") is { } wait) o = o with { EgressWaitTimeout = wait };
        if (e.Choice("egress_while_disconnected", ("hold", DisconnectedEgressPolicy.Hold), ("drop", DisconnectedEgressPolicy.Drop)) is { } held)
            o = o with { EgressWhileDisconnected = held };
        if (Idle(e) is { } idle) o = o with { IdleTimeout = idle };
        if (e.Size("read_buffer", 256) is { } read) o = o with { ReadBufferBytes = read };
        if (e.Duration("stop_grace_period") is { } grace) o = o with { StopGracePeriod = grace };
        if (e.Duration("stats_interval") is { } stats) o = o with { StatsInterval = stats };
        if (e.Duration("connect_timeout") is { } connectTimeout) o = o with { ConnectTimeout = connectTimeout };
        if (FirstAndCap(e, "reconnect_wait", "reconnect_max_wait", o.ReconnectWait, o.ReconnectMaxWait) is { } reconnect)
            o = o with { ReconnectWait = reconnect.First, ReconnectMaxWait = reconnect.Cap };
        if (e.Double("reconnect_jitter", 0, 1) is { } jitter) o = o with { ReconnectJitter = jitter };
        if (e.Int("reconnect_attempts", 0, int.MaxValue, " (0 = forever)") is { } attempts) o = o with { ReconnectAttempts = attempts };
        if (e.Duration("healthy_after") is { } healthy) o = o with { HealthyAfter = healthy };
        if (e.Duration("close_linger") is { } closeLinger) o = o with { CloseLinger = closeLinger };
        if (e.Duration("frame_timeout") is { } frameTimeout) o = o with { FrameTimeout = frameTimeout };
        if (e.Size("max_pending_bytes", 0) is { } pending) o = o with { MaxPendingBytes = pending };
        if (ReadTransport(e) is { } transport) o = o with { Transport = transport };
        if (e.Int("max_groups_per_connection", 0, int.MaxValue, " (0 = unlimited)") is { } maxGroups) o = o with { MaxGroupsPerConnection = maxGroups };
        if (e.Int("max_group_name_length", 1, StageOptionChecks.LongestGroupNameLimit, " (characters)") is { } maxName) o = o with { MaxGroupNameLength = maxName };
        if (TlsBlockReader.Read(e.Node("tls"), server: false, problems, e.Spelling) is { } clientTls) o = o with { Tls = clientTls };
        Check(() => o.Validate(), e, where, path, problems);
        return new ClientStageDeclaration(name, where, o) { Spelling = e.Spelling };
    }

    private static BridgeStageDeclaration ReadBridge(string name, string where, string path, bool isServer, List<ISettingNode> nodes, List<SettingProblem> problems,
        TimeSpan? stopGracePeriod)
    {
        var e = new SettingEntries(nodes, BridgeKeys, problems, isServer ? "a bridge_server stage" : "a bridge_client stage", isServer ? "bridge_server" : "bridge_client");
        var address = e.Text("address") ?? e.Text("host");
        if (e.Has("address") && e.Has("host"))
            e.Problem("host", $"cannot be combined with '{e.Say("address")}': give {e.Say("address")} or {e.Say("host")}, not both");
        if (address is null)
            e.Missing("address", where, $"{path}.{e.Say("config")}.{e.Say("address")}", "(the bridge's host, e.g. 127.0.0.1)");
        else if (string.IsNullOrWhiteSpace(address))
            e.Problem(e.Has("address") ? "address" : "host", "is empty; give the bridge's host, e.g. 127.0.0.1");
        var port = e.Int("port", 1, 65534, " (the bridge uses PORT and PORT+1)");
        if (port is null && !e.Has("port"))
            e.Missing("port", where, $"{path}.{e.Say("config")}.{e.Say("port")}", "(the bridge uses PORT and PORT+1)");
        var handshake = e.Duration("handshake_timeout") ?? TimeSpan.FromSeconds(10);
        // Said here, with the block's other problems: the bridge's options refuse 0 too, but only once the stage is built.
        if (handshake == TimeSpan.Zero)
            e.Problem("handshake_timeout", "is not allowed; use a duration above 0, e.g. 10s");
        var maxPayload = e.Size("max_payload", 1) ?? 64 * 1024 * 1024;
        var frameTimeout = e.Duration("frame_timeout") ?? TimeSpan.Zero;
        // As the tcp stages': the key, else the host's shutdown timeout (hosted), else the library's default (FrameBridgeOptions).
        var grace = e.Duration("stop_grace_period") ?? stopGracePeriod ?? DefaultBridgeGrace;
        return new BridgeStageDeclaration(name, where, isServer, address ?? "", port ?? 0, handshake, maxPayload, grace)
        {
            FrameTimeout = frameTimeout,
            AddressWhere = (e.Node("port") ?? e.Node("address") ?? e.Node("host"))?.Where,
        };
    }

    private static readonly TimeSpan DefaultBridgeGrace = new Ferry.Bridge.FrameBridgeOptions().StopGracePeriod;

    /// <summary><c>bind</c>/<c>connect</c>, or seed 004's <c>host</c> and <c>port</c>.</summary>
    private static string? Address(SettingEntries e, string key, List<SettingProblem> problems)
    {
        var direct = e.Text(key);
        if (!e.Has("host") && !e.Has("port"))
            return direct;
        if (direct is not null)
        {
            var with = e.Has("host") && e.Has("port") ? $"'{e.Say("host")}' and '{e.Say("port")}'" : $"'{e.Say(e.Has("host") ? "host" : "port")}'";
            e.Problem(key, $"cannot be combined with {with}: give {e.Say(key)}, or {e.Say("host")} and {e.Say("port")}, not both");
            return null;
        }
        var host = e.Text("host");
        var port = e.Int("port", 0, 65535, " (0 = any free port)");
        if (host is null || !e.Has("port"))
        {
            var given = e.Node(host is null ? "port" : "host")!;
            problems.Add(new SettingProblem(given.Where, given.Path, given.Value, $"needs '{e.Say(host is null ? "host" : "port")}' beside it"));
            return null;
        }
        if (host.Trim().Length == 0)
        {
            // ":port" is every interface when written as bind; an empty host is more likely a value that did not come
            // through (an unset variable), and must not open the stage on every interface unasked.
            e.Problem("host", key == "bind"
                ? $"is empty; give the address to listen on, e.g. 127.0.0.1, or 0.0.0.0 (IPv4) or :: (IPv6) for every interface"
                : $"is empty; give the remote host, e.g. 10.0.1.5 or db.example");
            return null;
        }
        if (port is null)
            return null;
        host = host.Trim();
        return host.Contains(':') && !host.StartsWith('[') ? $"[{host}]:{port}" : $"{host}:{port}";
    }

    private static TimeSpan? Idle(SettingEntries e)
    {
        if (e.Has("idle_timeout") && e.Has("timeout_seconds"))
        {
            e.Problem("timeout_seconds", $"cannot be combined with '{e.Say("idle_timeout")}': give {e.Say("idle_timeout")} or {e.Say("timeout_seconds")}, not both");
            return null;
        }
        if (e.Has("timeout_seconds"))
            return e.Int("timeout_seconds", 0, int.MaxValue / 1000, " (seconds; 0 = never)") is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        return e.Duration("idle_timeout");
    }

    /// <summary>
    /// A first wait and its cap (<c>reconnect_wait</c>/<c>reconnect_max_wait</c>, <c>bind_retry_delay</c>/<c>bind_retry_max_delay</c>)
    /// as <c>ferry connect</c> takes its two flags: one given alone moves the other's default out of its way (a first wait
    /// of 1m raises the 30 s cap, a cap of 500ms lowers the 1 s first wait); both given, the first must not be above the
    /// cap. Each problem is said at its key in the file's own words (the options' check would name both at the stage, in
    /// TimeSpan notation). Null when there is a problem (filed) or neither key is given.
    /// </summary>
    private static (TimeSpan First, TimeSpan Cap)? FirstAndCap(SettingEntries e, string firstKey, string capKey, TimeSpan first, TimeSpan cap)
    {
        var given = e.Duration(firstKey);
        var givenCap = e.Duration(capKey);
        var zero = false;
        foreach (var (key, value) in new[] { (firstKey, given), (capKey, givenCap) })
        {
            if (value != TimeSpan.Zero)
                continue;
            e.Problem(key, "is not allowed; use a duration above 0, e.g. 500ms, 1s or 30s");
            zero = true;
        }
        if (zero)
            return null;
        if (given is { } g && givenCap is { } c && g > c)
        {
            var (firstSaid, capSaid) = (e.Say(firstKey), e.Say(capKey));
            e.Problem(firstKey, $"is above {capSaid} '{e.Node(capKey)?.Value}'; the first wait must not be above the cap: lower {firstSaid} or raise {capSaid}");
            return null;
        }
        if (given is { } alone)
            return (alone, givenCap ?? (cap < alone ? alone : cap));
        if (givenCap is { } capAlone)
            return (first > capAlone ? capAlone : first, capAlone);
        return null;
    }

    private static StageTransport? ReadTransport(SettingEntries e) => e.Choice("transport",
        ("auto", StageTransport.Auto), ("epoll", StageTransport.Epoll), ("stream", StageTransport.Stream));

    private static EgressOverflowPolicy? Overflow(SettingEntries e) => e.Choice("egress_overflow",
        ("drop", EgressOverflowPolicy.Drop), ("disconnect", EgressOverflowPolicy.Disconnect), ("wait", EgressOverflowPolicy.Wait));

    /// <summary><c>framing</c> as a spec string, or seed 003's delimiter keys (its default: <c>\n</c>, not included, not appended).</summary>
    private static IFraming? Framing(SettingEntries e, bool seed003)
    {
        var seedKeys = FramingKeys.Skip(1).Where(e.Has).ToList();
        if (e.Text("framing") is { } spec)
        {
            foreach (var key in seedKeys)
                e.Problem(key, $"cannot be combined with '{e.Say("framing")}'; put it in the framing spec, e.g. delimiter,delimiter=\\x03,include=true");
            return ParseSpec(e, "framing", spec);
        }
        if (seedKeys.Count == 0 && !seed003)
            return null;
        var delimiter = e.Text("delimiter");
        var position = e.Choice("delimiter_position", ("suffix", DelimiterPosition.Suffix), ("prefix", DelimiterPosition.Prefix)) ?? DelimiterPosition.Suffix;
        var include = e.Bool("delimiter_include") ?? false;
        var append = e.Bool("delimiter_append") ?? !seed003;
        var built = new StringBuilder(string.IsNullOrEmpty(delimiter) ? "lines" : "delimiter,delimiter=");
        if (!string.IsNullOrEmpty(delimiter))
        {
            // Read as --framing delimiter,delimiter=… reads it: 0x03 is the byte 0x03 (seed 003's own example, "e.g. \n,
            // 0x03"), and \n \r \t \0 \\ \xHH are escapes (delimiter: \n unquoted or single-quoted in YAML is the two
            // characters '\' 'n', which the seed means as a newline). Taken byte for byte, 0x03 was the four characters
            // "0x03": a stream delimited by the byte 3 was never split. The bytes then go into the spec in its own escapes.
            if (DelimiterText.Parse(delimiter, out var why) is not { } bytes)
            {
                e.Problem("delimiter", $"is not a delimiter: {why}");
                return null;
            }
            built.Append(DelimiterText.Format(bytes));
        }
        if (position == DelimiterPosition.Prefix)
            built.Append(",position=prefix");
        built.Append(include ? ",include=true" : ",include=false");
        built.Append(append ? ",append=true" : ",append=false");
        return ParseSpec(e, e.Has("delimiter") ? "delimiter" : seedKeys.FirstOrDefault() ?? "framing", built.ToString());
    }

    private static IFraming? ParseSpec(SettingEntries e, string key, string spec)
    {
        try
        {
            return FramingSpec.Parse(spec);
        }
        catch (FramingException ex)
        {
            if (e.Has(key))
                e.Problem(key, $"{FramingProblem(spec, ex.Message)} (see docs/framing.md)");
            return null;
        }
    }

    /// <summary>
    /// The parser's message after the value the line already quotes: "'u32eb' is not a framing (did you mean 'u32be'?) (allowed: …)"
    /// and "'length,bytes=5' is not a valid framing: bytes=5: …", not the spec a second and third time.
    /// </summary>
    private static string FramingProblem(string spec, string message)
    {
        if (message.StartsWith($"framing '{spec}': ", StringComparison.Ordinal))
            message = message[$"framing '{spec}': ".Length..];
        var unknown = $"unknown framing '{spec.Trim()}'";
        return message.StartsWith(unknown, StringComparison.Ordinal) ? $"is not a framing{message[unknown.Length..]}" : $"is not a valid framing: {message}";
    }

    /// <summary>
    /// Runs the options' own validation and files each problem under the key it names, in the user's spelling: the options'
    /// problems are keyed (<c>option 'max_connections': …</c>, other options marked by <c>StageOptionsException.Mark</c>), and their public text names
    /// C# properties, which a file's user never wrote. A problem of a key the block does not set (a TLS setting checked against
    /// another) is filed at the <c>tls</c> block when it is about TLS, else at the stage, naming the key as the user would write it.
    /// </summary>
    private static void Check(Action validate, SettingEntries e, string where, string path, List<SettingProblem> problems)
    {
        try
        {
            validate();
        }
        catch (StageOptionsException ex)
        {
            foreach (var marked in ex.MarkedProblems)
            {
                var problem = StageOptionsException.SayKeys(marked, key => SayPath(e, key));
                var key = KeyOf(problem);
                var node = key is null ? null : e.Node(key) ?? (key is "bind" or "connect" ? e.Node("host") : null);
                if (node is { IsSequence: true } && Item(node, problem) is { } item)
                    node = item;
                if (node is null && key is not null && KeyOf(marked) is { } keyed)
                {
                    var rest = problem[(problem.IndexOf("': ", StringComparison.Ordinal) + 3)..];
                    var tls = keyed.StartsWith("tls.", StringComparison.Ordinal) ? e.Node("tls") : null;
                    problems.Add(tls is null
                        ? new SettingProblem(where, path, null, $"{SayPath(e, keyed)}: {rest}")
                        : new SettingProblem(tls.Where, tls.Path, null, $"{SayPath(e, keyed["tls.".Length..])}: {rest}"));
                    continue;
                }
                problems.Add(node is null
                    ? new SettingProblem(where, path, null, problem)
                    : new SettingProblem(node.Where, node.Path, node.Value, Shorten(problem, node.Value)));
            }
        }
    }

    private static string SayPath(SettingEntries e, string key) => e.Spelling.SayPath(key);

    /// <summary>
    /// The element of a list (allow_from: [a, b]) that the options' problem quotes ("option 'allow_from': 'b' is not a
    /// network"), so the problem is at that element: its line and column, or the --set or variable that gave it, rather
    /// than at the list's key in the file.
    /// </summary>
    private static ISettingNode? Item(ISettingNode list, string problem)
    {
        var colon = problem.IndexOf(": '", StringComparison.Ordinal);
        if (colon < 0)
            return null;
        var end = problem.IndexOf('\'', colon + 3);
        var quoted = end < 0 ? null : problem[(colon + 3)..end];
        var items = list.Children.Where(c => c.Value is { } v && v.Trim() == quoted).ToList();
        return items.Count == 1 ? items[0] : null;
    }

    /// <summary>"option 'bind': 'x' is not…" becomes "is not…": the key and the value as written are already on the line.</summary>
    private static string Shorten(string problem, string? value)
    {
        var colon = problem.IndexOf(": ", StringComparison.Ordinal);
        return colon < 0 ? problem : OptionProblemText.WithoutValue(problem[(colon + 2)..], value);
    }

    private static string? KeyOf(string problem)
    {
        const string prefix = "option '";
        if (!problem.StartsWith(prefix, StringComparison.Ordinal))
            return null;
        var end = problem.IndexOf('\'', prefix.Length);
        var key = end < 0 ? null : problem[prefix.Length..end];
        return key switch
        {
            "egress_buffer_bytes" => "egress_buffer",
            "read_buffer_bytes" => "read_buffer",
            _ => key,
        };
    }
}
