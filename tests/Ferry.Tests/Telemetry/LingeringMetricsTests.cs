using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Testing;

namespace Ferry.Tests.Telemetry;

/// <summary>The Ferry meter's lingering closes: <c>ferry.tcp.connections.lingering</c> and <c>lingering_resets</c>, as SocketStats says.</summary>
public sealed class LingeringMetricsTests
{
    [Fact]
    public async Task A_closed_connection_whose_peer_has_not_closed_is_reported_lingering_until_it_does()
    {
        var name = "linger_" + Guid.NewGuid().ToString("N")[..8];
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", CloseLinger = TimeSpan.FromMinutes(1) });
        using var tracking = FerryMetrics.Track(stage);
        var at = await stage.StartAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(at);
        await Poll.UntilAsync(() => stage.GetConnections().Count == 1, "the client taken");
        Assert.True(stage.Close(stage.GetConnections()[0].Id));
        await Poll.UntilAsync(() => stage.GetStats().LingeringNow == 1, "the close lingering for the client");

        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name.StartsWith("ferry.tcp.connections.lingering", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == FerryMetrics.StageTag && (string?)tag.Value == name)
                    seen[instrument.Name] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(1, seen["ferry.tcp.connections.lingering"]);
        Assert.Equal(0, seen["ferry.tcp.connections.lingering_resets"]);

        client.Close(); // the peer's EOF ends the linger
        await Poll.UntilAsync(() =>
        {
            listener.RecordObservableInstruments();
            return seen["ferry.tcp.connections.lingering"] == 0;
        }, "the lingering count back to 0");
    }
}
