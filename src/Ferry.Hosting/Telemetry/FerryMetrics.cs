using System.Diagnostics.Metrics;
using Ferry.Stages;

namespace Ferry.Hosting.Telemetry;

/// <summary>
/// The <c>Ferry</c> meter: observable instruments after seed 003's metric names, tagged with the stage
/// (<c>ferry.stage</c>). They are read from each tracked stage's statistics snapshot when a listener
/// collects (an exporter's interval, a scrape, <c>dotnet-counters</c>), so the hot path pays nothing
/// beyond the counting the stage already does.
/// </summary>
public static class FerryMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c>, <c>MeterListener</c> and <c>dotnet-counters monitor --counters Ferry</c>.</summary>
    public const string MeterName = "Ferry";

    /// <summary>The tag naming the stage on every measurement.</summary>
    public const string StageTag = "ferry.stage";

    private static readonly Lock Gate = new();
    private static readonly List<TrackedStage> Stages = [];
    private static readonly Meter Meter = new(MeterName, typeof(FerryMetrics).Assembly.GetName().Version?.ToString());

    static FerryMetrics()
    {
        Meter.CreateObservableUpDownCounter("ferry.tcp.connections.active", () => Observe(s => s.ConnectionsNow), "{connection}", "Connections established now");
        Meter.CreateObservableCounter("ferry.tcp.connections.accepted", () => Observe(s => s.AcceptedTotal), "{connection}", "Connections accepted (server) or established (client)");
        Meter.CreateObservableCounter("ferry.tcp.connections.rejected", () => Observe(s => s.RejectedTotal), "{connection}", "Connections refused over the connection limit");
        Meter.CreateObservableCounter("ferry.tcp.connections.closed", () => Observe(s => s.ClosedTotal), "{connection}", "Connections closed, for any reason");
        Meter.CreateObservableCounter("ferry.tcp.bytes.read", () => Observe(s => s.BytesReceivedTotal), "By", "Bytes read from the wire");
        Meter.CreateObservableCounter("ferry.tcp.bytes.written", () => Observe(s => s.BytesSentTotal), "By", "Bytes written to the wire");
        Meter.CreateObservableCounter("ferry.tcp.packets.read", () => Observe(s => s.PacketsReceivedTotal), "{packet}", "Framed messages received");
        Meter.CreateObservableCounter("ferry.tcp.packets.written", () => Observe(s => s.PacketsSentTotal), "{packet}", "Framed messages sent");
        Meter.CreateObservableCounter("ferry.tcp.frame.errors", () => Observe(s => s.FrameErrorsTotal), "{error}", "Malformed or oversize frames");
        Meter.CreateObservableCounter("ferry.tcp.egress.dropped", () => Observe(s => s.EgressPacketsDroppedTotal), "{packet}", "Egress messages dropped by the overflow policy");
        Meter.CreateObservableCounter("ferry.tcp.egress.dropped_bytes", () => Observe(s => s.EgressBytesDroppedTotal), "By", "Egress bytes dropped by the overflow policy");
        Meter.CreateObservableCounter("ferry.tcp.groups.published", () => Observe(s => s.GroupsPublishedTotal), "{group}", "Packet groups published on the bus");
    }

    /// <summary>Reports <paramref name="stage"/>'s statistics until the returned handle is disposed.</summary>
    public static IDisposable Track(TcpServerStage stage) => Track(stage.Name, stage.GetStats);

    /// <summary>Reports <paramref name="stage"/>'s statistics until the returned handle is disposed.</summary>
    public static IDisposable Track(TcpClientStage stage) => Track(stage.Name, stage.GetStats);

    /// <summary>Reports the statistics <paramref name="snapshot"/> returns, tagged <paramref name="stage"/>, until the handle is disposed.</summary>
    public static IDisposable Track(string stage, Func<SocketStats> snapshot)
    {
        var tracked = new TrackedStage(stage, snapshot);
        lock (Gate)
            Stages.Add(tracked);
        return tracked;
    }

    private static List<Measurement<long>> Observe(Func<SocketStats, long> read)
    {
        TrackedStage[] stages;
        lock (Gate)
            stages = [.. Stages];
        var measurements = new List<Measurement<long>>(stages.Length);
        foreach (var stage in stages)
            measurements.Add(new Measurement<long>(read(stage.Snapshot()), new KeyValuePair<string, object?>(StageTag, stage.Name)));
        return measurements;
    }

    private sealed class TrackedStage(string name, Func<SocketStats> snapshot) : IDisposable
    {
        public string Name { get; } = name;

        public SocketStats Snapshot() => snapshot();

        public void Dispose()
        {
            lock (Gate)
                Stages.Remove(this);
        }
    }
}
