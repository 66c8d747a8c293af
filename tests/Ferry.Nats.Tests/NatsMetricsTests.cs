using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Ferry.Hosting;
using Ferry.Hosting.Telemetry;
using Ferry.Nats.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ferry.Nats.Tests;

/// <summary>
/// The <c>Ferry</c> meter says how a stage's NATS gateway is doing: a scrape during a broker outage must show the
/// broker gone (<c>ferry.nats.connected</c> 0, <c>ferry.nats.disconnects</c> up), not a stage that merely looks quiet.
/// </summary>
public sealed class NatsMetricsTests
{
    [SkippableFact]
    public async Task The_meter_says_when_a_hosted_gateway_loses_its_broker_and_when_it_is_back()
    {
        await using var server = await NatsServer.StartNewAsync();
        // The meter is process-wide: a stage name of its own keeps other tests' stages out of what is read here.
        var stage = "natsmeter" + Guid.NewGuid().ToString("N")[..8];
        using var host = HostedGateway.Build(stage, server.Url, "metered");
        using var meter = new StageMeterReader(stage);
        await host.StartAsync();
        try
        {
            var gateway = host.Services.GetRequiredService<FerryStages>().Gateways[stage];
            var seen = meter.Read();
            Assert.Equal(1, seen["ferry.nats.connected"]);
            Assert.Equal(0, seen["ferry.nats.disconnects"]);
            Assert.Equal(0, seen["ferry.nats.ingress.dropped"]);

            server.Kill();
            await Eventually.TrueAsync(() => meter.Read()["ferry.nats.connected"] == 0, TimeSpan.FromSeconds(20), () => "ferry.nats.connected still 1 with NATS down");
            Assert.True(meter.Read()["ferry.nats.disconnects"] >= 1);
            Assert.Equal(gateway.Counters.Disconnects, meter.Read()["ferry.nats.disconnects"]);

            await server.StartAsync();
            await Eventually.TrueAsync(() => meter.Read()["ferry.nats.connected"] == 1, TimeSpan.FromSeconds(30), () => "ferry.nats.connected not 1 again after NATS came back");
        }
        finally
        {
            await host.StopAsync();
        }
        // A stopped host's gateway is no longer reported.
        Assert.DoesNotContain("ferry.nats.connected", meter.Read().Keys);
    }

    /// <summary>
    /// A gateway built in code (no AddFerry, no ferry run) is put on the meter with <see cref="FerryMetrics.Track(NatsGateway)"/>,
    /// tagged with its stage's name; before that, and after the handle is disposed, it is not reported.
    /// </summary>
    [SkippableFact]
    public async Task A_hand_built_gateway_is_reported_once_tracked()
    {
        await using var server = await NatsServer.StartNewAsync();
        var stage = "handmeter" + Guid.NewGuid().ToString("N")[..8];
        using var meter = new StageMeterReader(stage);
        await using var gateway = await Gateway.StartAsync(server, stage, Ferry.Framing.FramingSpec.Parse("lines"));
        Assert.Equal(stage, gateway.Nats.StageName);
        Assert.DoesNotContain("ferry.nats.connected", meter.Read().Keys);

        using (FerryMetrics.Track(gateway.Nats))
        {
            await using var nats = await Observer.ConnectAsync(server);
            await using var ingress = await Observer.CollectAsync(nats, gateway.Nats.IngressSubject);
            using var client = await TestClient.ConnectAsync(gateway.Port);
            await client.SendAsync("one\ntwo\nthree\n");
            await ingress.WaitForAsync(3);
            await nats.PublishAsync(gateway.Nats.EgressSubject, "hello"u8.ToArray());
            await client.WaitForTextAsync(t => t == "hello\n");
            await Eventually.TrueAsync(() => meter.Read().GetValueOrDefault("ferry.nats.egress.delivered") == 1, TimeSpan.FromSeconds(10),
                () => string.Join(", ", meter.Read()));

            var seen = meter.Read();
            Assert.Equal(1, seen["ferry.nats.connected"]);
            Assert.Equal(0, seen["ferry.nats.disconnects"]);
            Assert.Equal(3, seen["ferry.nats.ingress.packets"]);
            Assert.Equal(0, seen["ferry.nats.ingress.dropped"]);
            Assert.Equal(1, seen["ferry.nats.egress.received"]);
            Assert.Equal(gateway.Nats.Counters.EgressDelivered, seen["ferry.nats.egress.delivered"]);
            Assert.Equal(0, seen["ferry.nats.events.dropped"]);

            // Tracked twice, every count would be reported twice under the one tag: refused, and the first handle goes on.
            var twice = Assert.Throws<InvalidOperationException>(() => FerryMetrics.Track(gateway.Nats));
            Assert.StartsWith($"the NATS gateway of stage '{stage}' is on the Ferry meter already", twice.Message);
            Assert.Equal(3, meter.Read()["ferry.nats.ingress.packets"]);
        }
        Assert.DoesNotContain("ferry.nats.connected", meter.Read().Keys);
        using (FerryMetrics.Track(gateway.Nats))
            Assert.Equal(1, meter.Read()["ferry.nats.connected"]);
        Assert.Throws<ArgumentNullException>(() => FerryMetrics.Track((NatsGateway)null!));
    }

    /// <summary>Reads the <c>Ferry</c> meter's observable instruments for one stage, on demand.</summary>
    private sealed class StageMeterReader : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);

        public StageMeterReader(string stage)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == FerryMetrics.MeterName)
                    l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag.Key == FerryMetrics.StageTag && (string?)tag.Value == stage)
                        _seen[instrument.Name] = value;
            });
            _listener.Start();
        }

        public Dictionary<string, long> Read()
        {
            _seen.Clear();
            _listener.RecordObservableInstruments();
            return new Dictionary<string, long>(_seen, StringComparer.Ordinal);
        }

        public void Dispose() => _listener.Dispose();
    }
}
