using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Ferry.Nats;
using Ferry.Stages;
using Ferry.Stages.Internal;

namespace Ferry.Hosting.Telemetry;

/// <summary>
/// The <c>Ferry</c> meter: observable instruments after seed 003's metric names, tagged with the stage
/// (<c>ferry.stage</c>). They are read from each tracked stage's statistics snapshot when a listener
/// collects (an exporter's interval, a scrape, <c>dotnet-counters</c>), so the hot path pays nothing
/// beyond the counting the stage already does. Two are recorded as things happen, each at most once per
/// packet group or per failed handshake, never per packet: the packet group publish latency (into a
/// per-stage <see cref="PublishLatencyHistogram"/>, only while a listener collects it, and observed as
/// <c>ferry.tcp.group.publish_latency.bucket</c>/<c>.count</c>/<c>.sum</c>) and the TLS handshake failures by reason.
/// With a <c>nats</c> bus, <c>ferry run</c>, <c>ferry serve --nats</c> and the Generic Host also report each server stage's
/// NATS gateway on this meter (<c>ferry.nats.connected</c>, <c>ferry.nats.disconnects</c>, <c>ferry.nats.ingress.dropped</c>, …);
/// a gateway built in code is reported once given to <see cref="Track(NatsGateway)"/>.
/// </summary>
public static class FerryMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c>, <c>MeterListener</c> and <c>dotnet-counters monitor --counters Ferry</c>.</summary>
    public const string MeterName = "Ferry";

    /// <summary>The tag naming the stage on every measurement.</summary>
    public const string StageTag = "ferry.stage";

    /// <summary>The tag naming the reason on <c>ferry.tcp.disconnections</c>.</summary>
    public const string ReasonTag = "reason";

    /// <summary>The tag naming why a TLS handshake failed on <c>ferry.tcp.tls.handshake_failures</c>.</summary>
    public const string TlsReasonTag = "tls.reason";

    private static readonly Lock Gate = new();
    private static readonly List<TrackedStage> Stages = [];
    /// <summary>The one <c>Ferry</c> meter; the NATS gateways' instruments (<see cref="NatsGatewayMetrics"/>) are on it too.</summary>
    internal static readonly Meter Meter = new(MeterName, typeof(FerryMetrics).Assembly.GetName().Version?.ToString());

    static FerryMetrics()
    {
        Meter.CreateObservableUpDownCounter("ferry.tcp.connections.active", () => Observe(s => s.ConnectionsNow), "{connection}", "Connections established now");
        // One model for all four (SocketStats says the same): accepted - closed = active, the disconnections by reason
        // add up to closed, and rejected counts those of the closed that admission refused.
        Meter.CreateObservableCounter("ferry.tcp.connections.accepted", () => Observe(s => s.AcceptedTotal), "{connection}",
            "Connections accepted (server) or connected (client), refused ones included; accepted - closed = active");
        Meter.CreateObservableCounter("ferry.tcp.connections.rejected", () => Observe(s => s.RejectedTotal), "{connection}",
            "Connections refused by admission (max_connections, descriptor reserve, per-address limits, allow/deny, accept filter); also counted in closed");
        Meter.CreateObservableCounter("ferry.tcp.connections.closed", () => Observe(s => s.ClosedTotal), "{connection}",
            "Connections closed, for any reason, refused ones included");
        Meter.CreateObservableUpDownCounter("ferry.tcp.connections.lingering", () => Observe(s => s.LingeringNow), "{connection}",
            "Connections closed gracefully that still hold their socket until the peer takes what it is owed and closes (close_linger); at most max_connections");
        Meter.CreateObservableCounter("ferry.tcp.connections.lingering_resets", () => Observe(s => s.LingeringResetTotal), "{connection}",
            "Lingering closes cut short with a reset, the oldest first, to keep at most max_connections lingering");
        Meter.CreateObservableCounter("ferry.tcp.disconnections", ObserveDisconnections, "{connection}",
            "Connections closed, tagged with the reason (remote_closed, reset, idle_timeout, limit, ip_limit, denied, server_stopping, client_stopping, protocol_error, killed, slow_consumer, tls_error, proxy_protocol, ...); they add up to closed");
        Meter.CreateObservableCounter("ferry.tcp.bytes.read", () => Observe(s => s.BytesReceivedTotal), "By", "Bytes read from the wire");
        Meter.CreateObservableCounter("ferry.tcp.bytes.written", () => Observe(s => s.BytesSentTotal), "By", "Bytes written to the wire");
        Meter.CreateObservableCounter("ferry.tcp.packets.read", () => Observe(s => s.PacketsReceivedTotal), "{packet}", "Framed messages received");
        Meter.CreateObservableCounter("ferry.tcp.packets.written", () => Observe(s => s.PacketsSentTotal), "{packet}", "Framed messages queued for sending, once per target connection");
        Meter.CreateObservableCounter("ferry.tcp.frame.errors", () => Observe(s => s.FrameErrorsTotal), "{error}", "Malformed or oversize frames");
        Meter.CreateObservableCounter("ferry.tcp.egress.dropped", () => Observe(s => s.EgressPacketsDroppedTotal), "{packet}", "Egress messages dropped before they were queued: by the overflow policy, a wait timed out, nobody connected");
        Meter.CreateObservableCounter("ferry.tcp.egress.dropped_bytes", () => Observe(s => s.EgressBytesDroppedTotal), "By", "Egress bytes dropped: those of dropped messages, and those still queued when their connection closed");
        Meter.CreateObservableCounter("ferry.tcp.groups.published", () => Observe(s => s.GroupsPublishedTotal), "{group}", "Packet groups published on the bus");
        Meter.CreateObservableCounter("ferry.tcp.egress.unknown_target", () => Observe(s => s.EgressUnknownTargetTotal), "{packet}",
            "Egress messages for a connection that is not (or no longer) connected");
        Meter.CreateObservableCounter("ferry.tcp.group.joins_refused", () => Observe(s => s.GroupJoinsRefusedTotal), "{join}",
            "Group joins refused: the connection at max_groups_per_connection, or a name over max_group_name_length");
        Meter.CreateObservableCounter("ferry.tcp.tls.handshake_failures", ObserveTlsFailures, "{handshake}",
            "TLS handshakes that failed, tagged with the reason (timeout, no_client_certificate, untrusted, expired, not_yet_valid, revoked, name_mismatch, failed); "
            + "a TLS error after the handshake is not one (it is in ferry.tcp.disconnections, reason tls_error)");
        // The publish latency is aggregated by Ferry per stage (PublishLatencyHistogram) and observed like the
        // rest: a histogram instrument would cost an OpenTelemetry tag look-up and lock per group.
        LatencyBuckets = Meter.CreateObservableCounter("ferry.tcp.group.publish_latency.bucket", ObserveLatencyBuckets, "{group}",
            "Packet groups whose publish latency (first packet's receipt to publication on the bus) was at most the le tag's seconds; cumulative, le=+Inf counts all");
        LatencyCount = Meter.CreateObservableCounter("ferry.tcp.group.publish_latency.count",
            () => ObserveLatency(h => h.Count), "{group}", "Packet groups whose publish latency was measured");
        LatencySum = Meter.CreateObservableCounter("ferry.tcp.group.publish_latency.sum",
            () => ObserveLatency(h => h.SumSeconds), "s", "The sum of the measured packet group publish latencies");
    }

    /// <summary>The tag naming a latency bucket's upper bound in seconds, as Prometheus names it.</summary>
    private const string UpperBoundTag = "le";

    private static readonly Instrument LatencyBuckets;
    private static readonly Instrument LatencyCount;
    private static readonly Instrument LatencySum;

    /// <summary>Latencies are measured only while a listener collects one of the three latency instruments.</summary>
    private static bool LatencyObserved => LatencyBuckets.Enabled || LatencyCount.Enabled || LatencySum.Enabled;

    /// <summary>Reports <paramref name="stage"/>'s statistics, and its disconnections by reason, until the returned handle is disposed.</summary>
    /// <exception cref="InvalidOperationException">The stage is tracked already (by an earlier call, the host or a <c>ferry</c> command).</exception>
    public static IDisposable Track(TcpServerStage stage)
        => Track(stage, stage.Name, stage.GetStats, stage.Bus, stage.Core.Clock, h => stage.Disconnected += h, h => stage.Disconnected -= h);

    /// <summary>Reports <paramref name="stage"/>'s statistics, and its disconnections by reason, until the returned handle is disposed.</summary>
    /// <exception cref="InvalidOperationException">The stage is tracked already (by an earlier call, the host or a <c>ferry</c> command).</exception>
    public static IDisposable Track(TcpClientStage stage)
        => Track(stage, stage.Name, stage.GetStats, stage.Bus, stage.Core.Clock, h => stage.Disconnected += h, h => stage.Disconnected -= h);

    private static TrackedStage Track(object stage, string name, Func<SocketStats> snapshot, Ferry.Bus.IMessageBus bus, StageClock clock,
        Action<EventHandler<DisconnectedEvent>> subscribe, Action<EventHandler<DisconnectedEvent>> unsubscribe)
    {
        ArgumentNullException.ThrowIfNull(stage);
        var tracked = Add(new TrackedStage(name, snapshot) { Clock = clock, Source = stage });
        EventHandler<DisconnectedEvent> count = (_, e) => tracked.Count(e);
        subscribe(count);
        var latency = Ferry.Bus.DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(name)).Subscribe(tracked.RecordPublished);
        tracked.OnDispose = () =>
        {
            unsubscribe(count);
            latency.Dispose();
        };
        return tracked;
    }

    /// <summary>
    /// Reports <paramref name="gateway"/>'s state and counts (<c>ferry.nats.connected</c>, <c>ferry.nats.disconnects</c>,
    /// <c>ferry.nats.ingress.dropped</c>, …: <see cref="NatsGateway.Counters"/>, read when a listener collects), tagged
    /// <c>ferry.stage</c> with <see cref="NatsGateway.StageName"/>, until the returned handle is disposed. For a gateway
    /// built in code; <c>ferry run</c>, <c>ferry serve --nats</c> and hosted stages with a <c>nats</c> bus track theirs.
    /// Track the gateway's stage too (<see cref="Track(TcpServerStage)"/>) for its <c>ferry.tcp.*</c> instruments.
    /// </summary>
    /// <exception cref="InvalidOperationException">The gateway is tracked already (by an earlier call, the host or a <c>ferry</c> command).</exception>
    public static IDisposable Track(NatsGateway gateway)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        return NatsGatewayMetrics.Track(gateway.StageName, gateway);
    }

    /// <summary>
    /// Reports the statistics <paramref name="snapshot"/> returns, tagged <paramref name="stage"/>, until the handle is disposed.
    /// A <paramref name="snapshot"/> that throws misses that collection alone: the other stages are still reported.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="stage"/> or <paramref name="snapshot"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stage"/> is empty.</exception>
    public static IDisposable Track(string stage, Func<SocketStats> snapshot)
    {
        ArgumentException.ThrowIfNullOrEmpty(stage);
        ArgumentNullException.ThrowIfNull(snapshot);
        return Add(new TrackedStage(stage, snapshot));
    }

    private static TrackedStage Add(TrackedStage tracked)
    {
        lock (Gate)
        {
            // A stage tracked twice (say by the host and again by hand) would have every count reported twice under one tag.
            if (tracked.Source is { } source && Stages.Exists(s => ReferenceEquals(s.Source, source)))
                throw new InvalidOperationException($"stage '{tracked.Name}' is on the Ferry meter already (FerryMetrics.Track was called for it, "
                    + "or the host or the ferry command that runs it tracks it): tracked again, each of its counts would be reported twice; "
                    + "dispose the first handle before tracking it again");
            Stages.Add(tracked);
        }
        return tracked;
    }

    private static List<Measurement<long>> ObserveLatencyBuckets()
    {
        var measurements = new List<Measurement<long>>();
        foreach (var stage in Snapshot())
        {
            var counts = stage.Latency.CumulativeCounts();
            for (var i = 0; i < counts.Length; i++)
                measurements.Add(new Measurement<long>(counts[i],
                    new KeyValuePair<string, object?>(StageTag, stage.Name), new KeyValuePair<string, object?>(UpperBoundTag, PublishLatencyHistogram.UpperBoundLabels[i])));
        }
        return measurements;
    }

    private static List<Measurement<T>> ObserveLatency<T>(Func<PublishLatencyHistogram, T> read) where T : struct
    {
        var stages = Snapshot();
        var measurements = new List<Measurement<T>>(stages.Length);
        foreach (var stage in stages)
            measurements.Add(new Measurement<T>(read(stage.Latency), new KeyValuePair<string, object?>(StageTag, stage.Name)));
        return measurements;
    }

    private static TrackedStage[] Snapshot()
    {
        lock (Gate)
            return [.. Stages];
    }

    private static List<Measurement<long>> ObserveDisconnections() => ObserveByReason(s => s.Reasons, ReasonTag);

    private static List<Measurement<long>> ObserveTlsFailures() => ObserveByReason(s => s.TlsReasons, TlsReasonTag);

    private static List<Measurement<long>> ObserveByReason(Func<TrackedStage, ConcurrentDictionary<string, StrongBox>> counts, string tag)
    {
        var measurements = new List<Measurement<long>>();
        foreach (var stage in Snapshot())
            foreach (var (reason, count) in counts(stage))
                measurements.Add(new Measurement<long>(Interlocked.Read(ref count.Value),
                    new KeyValuePair<string, object?>(StageTag, stage.Name), new KeyValuePair<string, object?>(tag, reason)));
        return measurements;
    }

    /// <summary>
    /// Whether <paramref name="e"/> ended a TLS handshake that failed or timed out. A TLS error after the handshake (a record
    /// that does not decrypt, cleartext on an established session) is not one: the stage says which it was
    /// (<see cref="DisconnectedEvent.DuringHandshake"/>, as it counts <c>TlsFailuresTotal</c>), and such errors are counted where
    /// every close is, <c>ferry.tcp.disconnections</c> with reason <c>tls_error</c>, as SocketStats counts them in ClosedTotal only.
    /// </summary>
    internal static bool IsHandshakeFailure(DisconnectedEvent e) => e.Reason switch
    {
        Ferry.Connections.DisconnectReason.TlsHandshakeTimeout => true,
        Ferry.Connections.DisconnectReason.TlsError => e.DuringHandshake,
        _ => false,
    };

    /// <summary>
    /// A short, bounded reason for a failed handshake (its detail is free text: the tag's values must stay few). The stage's
    /// certificate checks give their reason first in the detail (<c>untrusted (NotSignatureValid): …</c>, <c>name mismatch: …</c>);
    /// anything else (OpenSSL's or SslStream's words, <c>tls handshake failed: …</c>) is <c>failed</c>.
    /// </summary>
    internal static string TlsReason(DisconnectedEvent e) => e.Reason == Ferry.Connections.DisconnectReason.TlsHandshakeTimeout
        ? "timeout"
        : e.Detail switch
        {
            { } detail when Begins(detail, "no client certificate") => "no_client_certificate",
            { } detail when Begins(detail, "expired") => "expired",
            { } detail when Begins(detail, "not yet valid") => "not_yet_valid",
            { } detail when Begins(detail, "revoked") => "revoked",
            { } detail when Begins(detail, "untrusted") => "untrusted",
            { } detail when Begins(detail, "name mismatch") => "name_mismatch",
            _ => "failed",
        };

    /// <summary>Whether <paramref name="detail"/> is <paramref name="word"/> or starts with it and goes on after a space, colon or parenthesis.</summary>
    private static bool Begins(string detail, string word)
        => detail.StartsWith(word, StringComparison.Ordinal) && (detail.Length == word.Length || detail[word.Length] is ' ' or ':' or '(');

    private static List<Measurement<long>> Observe(Func<SocketStats, long> read)
    {
        var stages = Snapshot();
        var measurements = new List<Measurement<long>>(stages.Length);
        foreach (var stage in stages)
        {
            SocketStats stats;
            try
            {
                stats = stage.Snapshot();
            }
            catch (Exception)
            {
                // One source that fails (a function given to Track) must not take every other stage's figures with it:
                // a collector's callback that throws loses all of its measurements.
                continue;
            }
            measurements.Add(new Measurement<long>(read(stats), new KeyValuePair<string, object?>(StageTag, stage.Name)));
        }
        return measurements;
    }

    private sealed class TrackedStage(string name, Func<SocketStats> snapshot) : IDisposable
    {
        public string Name { get; } = name;

        public ConcurrentDictionary<string, StrongBox> Reasons { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, StrongBox> TlsReasons { get; } = new(StringComparer.Ordinal);

        public PublishLatencyHistogram Latency { get; } = new();

        public Action? OnDispose { get; set; }

        /// <summary>The stage object tracked (null for a statistics function), so that it is tracked once.</summary>
        public object? Source { get; init; }

        public SocketStats Snapshot() => snapshot();

        /// <summary>Runs on the stage's service thread once per disconnection: a dictionary look-up and an increment (two for a failed TLS handshake, not for a TLS error after it).</summary>
        public void Count(DisconnectedEvent e)
        {
            Interlocked.Increment(ref Reasons.GetOrAdd(e.ReasonName, _ => new StrongBox()).Value);
            if (IsHandshakeFailure(e))
                Interlocked.Increment(ref TlsReasons.GetOrAdd(TlsReason(e), _ => new StrongBox()).Value);
        }

        /// <summary>The stage's loop clock, which stamped the packets; null for a stage tracked by its statistics only.</summary>
        public StageClock? Clock { get; init; }

        /// <summary>
        /// An inline handler on the stage's packet groups: it runs as each group is published (on the service
        /// thread), once per group, and measures only while a listener collects the latency instruments. "Now"
        /// is the loop round's time, the clock that stamped the packet: no clock read per group (a fresh one
        /// cost as much as the rest of the measurement), the stage's own TimeProvider (fake in tests), and a
        /// latency in whole rounds: 0 in the round the packet arrived in, the linger wait for a group that waited.
        /// </summary>
        public ValueTask RecordPublished(PacketGroup group, CancellationToken cancellationToken)
        {
            if (LatencyObserved && group.Count > 0 && Clock is { } clock)
                Latency.Record(clock.NowUtcTicks - group[0].ReceivedAtUtcTicks);
            return ValueTask.CompletedTask;
        }

        public void Dispose()
        {
            OnDispose?.Invoke();
            lock (Gate)
                Stages.Remove(this);
        }
    }
}

/// <summary>A counter cell for <see cref="Interlocked"/>.</summary>
internal sealed class StrongBox
{
    public long Value;
}
