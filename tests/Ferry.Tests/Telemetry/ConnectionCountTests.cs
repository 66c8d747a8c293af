using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Ferry.Connections;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Telemetry;

/// <summary>
/// One model for the connection counters, in SocketStats and on the meter alike: every connection taken is
/// accepted once and closed once (refused ones too), so accepted - closed = active; the disconnections by
/// reason add up to closed; rejected counts the closed that admission refused.
/// </summary>
public abstract class ConnectionCountTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ConnectionCountTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ConnectionCountTests(StageTransport.Stream);

    private static string UniqueName() => "counts_" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A client from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo).</summary>
    private static async Task<Socket> ConnectFromAsync(IPEndPoint server, string from)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        try
        {
            await socket.ConnectAsync(server).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            // A refusal at accept can reset the connection before the connect has returned.
        }
        return socket;
    }

    /// <summary>The stage's connection counters as the meter reports them.</summary>
    private sealed record MeterCounts(long Accepted, long Rejected, long Closed, long Active, IReadOnlyDictionary<string, long> Disconnections);

    private static MeterCounts ReadMeter(string stage)
    {
        var seen = new Dictionary<string, long>();
        var reasons = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name.StartsWith("ferry.tcp.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? stageTag = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == FerryMetrics.StageTag) stageTag = (string?)tag.Value;
                if (tag.Key == FerryMetrics.ReasonTag) reason = (string?)tag.Value;
            }
            if (stageTag != stage)
                return;
            if (instrument.Name == "ferry.tcp.disconnections" && reason is not null)
                reasons[reason] = value;
            else
                seen[instrument.Name] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return new MeterCounts(seen["ferry.tcp.connections.accepted"], seen["ferry.tcp.connections.rejected"], seen["ferry.tcp.connections.closed"],
            seen["ferry.tcp.connections.active"], reasons);
    }

    /// <summary>Waits until the stage has closed <paramref name="closed"/> connections, then checks that SocketStats and the meter tell one story.</summary>
    private static async Task<(SocketStats Stats, MeterCounts Meter)> SettledAsync(TcpServerStage stage, long closed, int active)
    {
        MeterCounts? meter = null;
        await Poll.UntilAsync(() =>
        {
            meter = ReadMeter(stage.Name);
            return stage.GetStats() is { } s && s.ClosedTotal >= closed && s.ConnectionsNow == active && meter.Disconnections.Values.Sum() >= closed;
        }, $"{closed} connections closed and {active} open", seen: () => $"{stage.GetStats()}; meter {meter}");
        var stats = stage.GetStats();
        meter = ReadMeter(stage.Name);

        // SocketStats
        Assert.Equal(closed, stats.ClosedTotal);
        Assert.Equal(active, stats.ConnectionsNow);
        Assert.Equal(stats.AcceptedTotal - stats.ClosedTotal, stats.ConnectionsNow);
        Assert.True(stats.RejectedTotal <= stats.ClosedTotal, $"rejected {stats.RejectedTotal} are among the closed {stats.ClosedTotal}");
        // The meter: the same figures, and the disconnections by reason add up to closed.
        Assert.Equal(stats.AcceptedTotal, meter.Accepted);
        Assert.Equal(stats.RejectedTotal, meter.Rejected);
        Assert.Equal(stats.ClosedTotal, meter.Closed);
        Assert.Equal(stats.ConnectionsNow, meter.Active);
        Assert.Equal(meter.Accepted - meter.Closed, meter.Active);
        Assert.Equal(meter.Closed, meter.Disconnections.Values.Sum());
        return (stats, meter);
    }

    [Fact]
    public async Task Accepted_minus_closed_is_active_and_disconnections_by_reason_add_up_to_closed()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Name = UniqueName(), MaxConnections = 3, DenyFrom = ["127.0.0.9/32"] }.On(transport));
        using var tracking = FerryMetrics.Track(h.Stage);
        await h.StartAsync();

        using var denied = await ConnectFromAsync(h.EndPoint, "127.0.0.9");
        await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Denied);
        using var a = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        using var b = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        using var c = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await Poll.UntilAsync(() => h.Events.OfType<ConnectedEvent>().Count() == 3, "three connected");
        using var over1 = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        using var over2 = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await Poll.UntilAsync(() => h.Events.OfType<DisconnectedEvent>().Count(e => e.Reason == DisconnectReason.Limit) == 2, "two over max_connections");

        var connected = h.Events.OfType<ConnectedEvent>().ToList();
        var local = (IPEndPoint)a.LocalEndPoint!;
        var ofA = connected.Single(e => e.Peer.Equals(local)).ConnectionId;
        var ofB = connected.Single(e => e.Peer.Equals((IPEndPoint)b.LocalEndPoint!)).ConnectionId;
        a.Close();                                    // closed by the peer
        await h.WaitForDisconnectAsync(ofA);
        Assert.True(h.Stage.Close(ofB, "enough"));    // closed by the server
        await h.WaitForDisconnectAsync(ofB);

        // c is still open: 6 taken, 5 closed (3 of them refused), 1 open.
        var (stats, meter) = await SettledAsync(h.Stage, closed: 5, active: 1);
        Assert.Equal(6, stats.AcceptedTotal);
        Assert.Equal(3, stats.RejectedTotal);
        Assert.Equal(1, meter.Disconnections["denied"]);
        Assert.Equal(2, meter.Disconnections["limit"]);
        Assert.Equal(1, meter.Disconnections["killed"]);
        Assert.Equal(1, meter.Disconnections.GetValueOrDefault("remote_closed") + meter.Disconnections.GetValueOrDefault("reset"));
        Assert.Equal(5, h.Events.OfType<DisconnectedEvent>().Count()); // one event per closed connection
    }

    [Fact]
    public async Task Refusals_at_the_PROXY_header_are_closed_and_only_those_by_admission_are_rejected()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Name = UniqueName(),
            ProxyProtocol = ProxyProtocol.Any,
            TrustedProxies = ["127.0.0.1"],
            DenyFrom = ["198.51.100.0/24"],
        }.On(transport));
        using var tracking = FerryMetrics.Track(h.Stage);
        await h.StartAsync();

        // An untrusted peer sending a header, and a trusted proxy sending a broken one: PROXY failures, not admission.
        using var untrusted = await ConnectFromAsync(h.EndPoint, "127.0.0.2");
        await untrusted.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.1 10.0.0.1 1000 443\r\n"));
        using var broken = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await broken.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 nonsense\r\n"));
        // A client the header names that deny_from refuses: admission, at the header.
        using var denied = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await denied.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.9 10.0.0.1 1000 443\r\n"));
        using var welcome = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await welcome.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.7 10.0.0.1 1000 443\r\n"));
        await h.WaitForEventAsync<ConnectedEvent>();

        var (stats, meter) = await SettledAsync(h.Stage, closed: 3, active: 1);
        Assert.Equal(4, stats.AcceptedTotal);
        Assert.Equal(1, stats.RejectedTotal);
        Assert.Equal(2, stats.ProxyFailuresTotal);
        Assert.Equal(2, meter.Disconnections["proxy_protocol"]);
        Assert.Equal(1, meter.Disconnections["denied"]);
    }

    [Fact]
    public async Task A_failed_TLS_handshake_is_closed_and_not_rejected()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Name = UniqueName(),
            Tls = TestCertificates.MutualTlsServer,
        }.On(transport));
        using var tracking = FerryMetrics.Track(h.Stage);
        await h.StartAsync();

        try
        {
            await using var refused = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
            await refused.WaitClosedAsync();
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        await using var welcome = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: TestCertificates.Client));
        await h.WaitForEventAsync<ConnectedEvent>();

        var (stats, meter) = await SettledAsync(h.Stage, closed: 1, active: 1);
        Assert.Equal(2, stats.AcceptedTotal);
        Assert.Equal(0, stats.RejectedTotal);
        Assert.Equal(1, stats.TlsFailuresTotal);
        Assert.Equal(1, meter.Disconnections["tls_error"]);
    }
}
