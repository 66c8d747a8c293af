using System.Diagnostics.Metrics;
using Ferry.Nats;

namespace Ferry.Hosting.Telemetry;

/// <summary>
/// The NATS gateways' instruments on the <c>Ferry</c> meter (<c>ferry.nats.*</c>, tagged <c>ferry.stage</c> with the
/// server stage the gateway connects): whether the broker is connected, how often it was lost, and every count of
/// <see cref="NatsGatewayCounters"/> that says a message did not go where it was sent. Without them a gateway whose
/// broker is gone looks, on a scrape, like a quiet stage: its clients' packets are still read and published, and the
/// losses are only in the log and on the (unreachable) stats subject. Read from <see cref="NatsGateway.Counters"/>
/// when a listener collects: nothing is added to the publish path.
/// </summary>
internal static class NatsGatewayMetrics
{
    private static readonly Lock Gate = new();
    private static readonly List<TrackedGateway> Gateways = [];

    static NatsGatewayMetrics()
    {
        var meter = FerryMetrics.Meter;
        meter.CreateObservableUpDownCounter("ferry.nats.connected", () => Observe(c => c.Connected ? 1 : 0), "{connection}",
            "1 while the stage's NATS gateway is connected to its broker, 0 while it is not (reconnecting)");
        meter.CreateObservableCounter("ferry.nats.disconnects", () => Observe(c => c.Disconnects), "{disconnect}", "Times the connection to NATS was lost");
        meter.CreateObservableCounter("ferry.nats.ingress.packets", () => Observe(c => c.IngressPackets), "{packet}",
            "Packets published to the ingress subject (acknowledged by the stream in JetStream mode)");
        meter.CreateObservableCounter("ferry.nats.ingress.dropped", () => Observe(c => c.IngressDropped), "{packet}",
            "Packets lost on the way to NATS (core: no room within publish_timeout, or refused)");
        meter.CreateObservableCounter("ferry.nats.ingress.retries", () => Observe(c => c.IngressRetries), "{publish}",
            "JetStream publishes sent again after a timeout or an error (possible duplicates, never losses)");
        meter.CreateObservableUpDownCounter("ferry.nats.ingress.in_flight", () => Observe(c => c.IngressInFlight), "{publish}",
            "JetStream publishes waiting for their acknowledgement now");
        meter.CreateObservableCounter("ferry.nats.egress.received", () => Observe(c => c.EgressReceived), "{message}", "Egress messages taken from NATS");
        meter.CreateObservableCounter("ferry.nats.egress.delivered", () => Observe(c => c.EgressDelivered), "{message}",
            "Egress messages written to at least one connection's egress buffer");
        meter.CreateObservableCounter("ferry.nats.egress.no_target", () => Observe(c => c.EgressNoTarget), "{message}",
            "Egress messages for a connection that is gone or a group nobody is in: dropped");
        meter.CreateObservableCounter("ferry.nats.egress.overflow", () => Observe(c => c.EgressOverflow), "{message}",
            "Egress messages the stage's overflow policy dropped");
        meter.CreateObservableCounter("ferry.nats.egress.rejected", () => Observe(c => c.EgressRejected), "{message}", "Egress messages refused: invalid headers, a payload the framing cannot carry, or a failure handling it");
        meter.CreateObservableCounter("ferry.nats.client.dropped", () => Observe(c => c.ClientDropped), "{message}",
            "Messages the NATS client dropped because a subscription's queue was full");
        meter.CreateObservableCounter("ferry.nats.events.dropped", () => Observe(c => c.EventsDropped), "{message}",
            "Events and stats that could not be published");
    }

    /// <summary>Reports <paramref name="gateway"/>'s state and counts, tagged <paramref name="stage"/>, until the returned handle is disposed.</summary>
    public static IDisposable Track(string stage, NatsGateway gateway)
    {
        var tracked = new TrackedGateway(stage, gateway);
        lock (Gate)
        {
            if (Gateways.Exists(g => ReferenceEquals(g.Gateway, gateway)))
                throw new InvalidOperationException($"the NATS gateway of stage '{stage}' is on the Ferry meter already (FerryMetrics.Track was called for it, "
                    + "or the host or the ferry command that runs it tracks it): tracked again, each of its counts would be reported twice; "
                    + "dispose the first handle before tracking it again");
            Gateways.Add(tracked);
        }
        return tracked;
    }

    private static List<Measurement<long>> Observe(Func<NatsGatewayCounters, long> read)
    {
        TrackedGateway[] gateways;
        lock (Gate)
            gateways = [.. Gateways];
        var measurements = new List<Measurement<long>>(gateways.Length);
        foreach (var tracked in gateways)
            measurements.Add(new Measurement<long>(read(tracked.Gateway.Counters), new KeyValuePair<string, object?>(FerryMetrics.StageTag, tracked.Stage)));
        return measurements;
    }

    private sealed class TrackedGateway(string stage, NatsGateway gateway) : IDisposable
    {
        public string Stage { get; } = stage;

        public NatsGateway Gateway { get; } = gateway;

        public void Dispose()
        {
            lock (Gate)
                Gateways.Remove(this);
        }
    }
}
