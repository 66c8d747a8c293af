using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A client stage whose certificate a mutual-TLS server refuses, when the refusal comes after the client's handshake has
/// finished: under TLS 1.3 always (the server checks the certificate sent with the client's Finished and answers with an
/// alert, as on epoll), and from an SslStream server (the stream transport) under 1.2 as well (it checks after its own
/// handshake and closes, with no alert). Before, the client took the close for a connection lost: attempt 0, the count
/// started again, an endless loop that never counted against reconnect_attempts nor showed as a failed handshake.
/// </summary>
/// <remarks>The client stage runs on a fake clock (its back-off waits); its connections and the server run in real time.</remarks>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class TlsRefusedAfterHandshakeReconnectTests(StageTransport serverTransport)
{
    public sealed class OnStream() : TlsRefusedAfterHandshakeReconnectTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsRefusedAfterHandshakeReconnectTests(StageTransport.Epoll);

    private Task<FerryTestServer> MutualTlsServerAsync() => MutualTlsServerAsync(serverTransport);

    private static async Task<FerryTestServer> MutualTlsServerAsync(StageTransport serverTransport)
    {
        var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = serverTransport,
            Framing = FramingSpec.Parse("lines"),
            Tls = TestCertificates.MutualTlsServer,
        });
        await h.StartAsync();
        return h;
    }

    private static TcpClientStageOptions ClientStage(int port, X509Certificate2 certificate, SslProtocols protocols, int reconnectAttempts) => new()
    {
        Name = "c" + Guid.NewGuid().ToString("N")[..8], // its own name on the meter, shared by every test in the process
        Connect = $"127.0.0.1:{port}",
        Framing = FramingSpec.Parse("lines"),
        ReconnectAttempts = reconnectAttempts,
        ReconnectWait = TimeSpan.FromMilliseconds(100),
        ReconnectJitter = 0,
        Tls = new TlsOptions
        {
            Secure = true,
            ServerName = "localhost",
            CaCertificatePem = TestCertificates.AuthorityPem,
            Certificate = TestCertificates.AsOption(certificate),
            Protocols = protocols,
        },
    };

    /// <summary>A fake clock for the client stage, at the real now: the test certificates are valid around it.</summary>
    private static StageTime ClientTime()
    {
        var time = new StageTime();
        time.SetUtcNow(DateTimeOffset.UtcNow);
        return time;
    }

    [Theory]
    [InlineData(SslProtocols.Tls13)]
    [InlineData(SslProtocols.Tls12)]
    public async Task A_refused_client_certificate_is_a_failed_handshake_each_time_and_the_stage_gives_up_after_reconnect_attempts(SslProtocols protocol)
    {
        await using var h = await MutualTlsServerAsync();
        var time = ClientTime();
        var options = ClientStage(h.EndPoint.Port, TestCertificates.ClientOfOtherAuthority, protocol, reconnectAttempts: 3);
        await using var client = new TcpClientStage(options, timeProvider: time);
        using var tracking = FerryMetrics.Track(client);
        var failures = new ConcurrentQueue<ConnectFailedEvent>();
        var closes = new ConcurrentQueue<DisconnectedEvent>();
        client.ConnectFailed += (_, e) => failures.Enqueue(e);
        client.Disconnected += (_, e) => closes.Enqueue(e);
        client.Start();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await Poll.UntilAsync(() => failures.Count == attempt, $"failed attempt {attempt}",
                seen: () => string.Join(" | ", failures.Select(f => $"{f.Attempt} {f.Reason}")));
            if (failures.Last() is { GivingUp: false } failed)
                time.Advance(failed.RetryIn);
        }

        Assert.Equal([1, 2, 3], failures.Select(f => f.Attempt));
        Assert.Equal([false, false, true], failures.Select(f => f.GivingUp));
        Assert.All(failures, f => Assert.StartsWith($"TLS handshake with 127.0.0.1:{h.EndPoint.Port} failed: tls handshake failed: ", f.Reason));
        Assert.Equal(3, closes.Count);
        Assert.All(closes, c =>
        {
            Assert.Equal(DisconnectReason.TlsError, c.Reason);
            Assert.True(c.DuringHandshake);
            Assert.StartsWith("tls handshake failed: ", c.Detail);
        });
        var gaveUp = await Assert.ThrowsAsync<IOException>(() => client.WaitConnectedAsync());
        Assert.Contains("gave up", gaveUp.Message);
        Assert.Equal(3, client.GetStats().TlsFailuresTotal);
        Assert.Equal(new Dictionary<string, long> { ["failed"] = 3 }, HandshakeFailuresOnTheMeter(options.Name));
        // It was the certificate the server refused, each time.
        await Poll.UntilAsync(() => h.Stage.GetStats().TlsFailuresTotal == 3, "the server's three refusals");
        Assert.All(h.Events.OfType<DisconnectedEvent>(), e => Assert.StartsWith("untrusted", e.Detail));
    }

    [Fact]
    public async Task Messages_held_while_disconnected_go_back_to_be_held_when_the_server_refuses_with_an_alert_and_only_then()
    {
        // Held while disconnected, delivered to the first connection the moment its handshake is done here: under TLS 1.3 the
        // epoll server's alert comes after that, having read none of them. Old code: they were lost with the refused
        // connection, counted nowhere. Now they are held again, for the next connection; this stage gives up after its one
        // attempt, so they are dropped then, each counted. The stream server only closes (no alert): it may have read them,
        // and they are not held again, so nothing is sent twice.
        await HeldGoBackOnlyAfterAnAlertAsync(["one", "two", "three"]);
    }

    [Fact]
    public async Task A_refusal_with_more_held_bytes_than_the_server_reads_in_one_go_still_reaches_the_client_as_its_alert()
    {
        // 160 KB held, written right behind the client's Finished, take many writes: one is still in flight, or starts, after
        // the client's TLS session took the server's alert on its read side, and SslStream fails it ("The encryption operation
        // failed"). That write failure used to close the connection as a reset before the read said why: "the server ended
        // the connection", and the held messages given to it were forgotten. Now a write that TLS failed is the TLS error.
        await HeldGoBackOnlyAfterAnAlertAsync(Enumerable.Range(0, 40).Select(i => new string((char)('a' + i % 26), 4000)).ToArray());
    }

    /// <summary>
    /// A TLS 1.3 client stage with <paramref name="held"/> held before it starts, refused by the server and giving up after
    /// that one attempt: its one close is the refusal; after the epoll server's alert what it held was held again (and
    /// dropped, counted, when it gave up), after the stream server's plain close it was not.
    /// </summary>
    private async Task HeldGoBackOnlyAfterAnAlertAsync(string[] held)
    {
        await using var h = await MutualTlsServerAsync();
        var options = ClientStage(h.EndPoint.Port, TestCertificates.ClientOfOtherAuthority, SslProtocols.Tls13, reconnectAttempts: 1);
        await using var client = new TcpClientStage(options, timeProvider: ClientTime());
        var closes = new ConcurrentQueue<DisconnectedEvent>();
        var gaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += (_, e) => closes.Enqueue(e);
        client.ConnectFailed += (_, e) =>
        {
            if (e.GivingUp)
                gaveUp.TrySetResult();
        };
        foreach (var message in held)
            Assert.True(await client.SendAsync(Encoding.ASCII.GetBytes(message)));
        client.Start();
        await gaveUp.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var closed = Assert.Single(closes);
        Assert.Equal(DisconnectReason.TlsError, closed.Reason);
        var stats = client.GetStats();
        if (serverTransport == StageTransport.Epoll)
        {
            Assert.StartsWith("tls handshake failed: ", closed.Detail);
            Assert.False(closed.Detail!.Contains("the server ended the connection", StringComparison.Ordinal), $"the alert was not read: {closed.Detail}");
            Assert.Equal(held.Length, stats.EgressPacketsDroppedTotal);
        }
        else
        {
            Assert.Contains("the server ended the connection", closed.Detail);
            Assert.Equal(0, stats.EgressPacketsDroppedTotal);
        }
    }

    /// <summary>
    /// Only the epoll server refuses with an alert, which is what gives the held messages back (the stream server's close
    /// keeps them given: see the test above), so this is on it alone.
    /// </summary>
    public sealed class AfterAnAlert
    {
        [Fact]
        public async Task Held_messages_given_back_by_a_refusal_reach_the_next_server_that_accepts_the_client()
        {
            var refusing = await MutualTlsServerAsync(StageTransport.Epoll);
            var port = refusing.EndPoint.Port;
            var time = ClientTime();
            var options = ClientStage(port, TestCertificates.ClientOfOtherAuthority, SslProtocols.Tls13, reconnectAttempts: 0);
            await using var client = new TcpClientStage(options, timeProvider: time);
            var failures = new ConcurrentQueue<ConnectFailedEvent>();
            client.ConnectFailed += (_, e) => failures.Enqueue(e);
            foreach (var line in new[] { "one", "two", "three" })
                Assert.True(await client.SendAsync(Encoding.ASCII.GetBytes(line)));
            client.Start();
            await Poll.UntilAsync(() => !failures.IsEmpty, "the refused attempt");
            Assert.StartsWith($"TLS handshake with 127.0.0.1:{port} failed: tls handshake failed: ", failures.Single().Reason);
            await refusing.DisposeAsync();
            await HeldReachTheNextServerAsync(port, time, client, failures.Single());
        }

        [Fact]
        public async Task Held_messages_written_after_the_refusal_came_are_given_back_as_well()
        {
            // The client's service thread is held in its Connected handler until the server has refused and closed: the
            // held messages are written only then, to a server that is gone, and the refusal must still be told by its
            // alert (the messages held again), whichever of the write and the read learns of it first.
            var refusing = await MutualTlsServerAsync(StageTransport.Epoll);
            var port = refusing.EndPoint.Port;
            var time = ClientTime();
            var options = ClientStage(port, TestCertificates.ClientOfOtherAuthority, SslProtocols.Tls13, reconnectAttempts: 0);
            await using var client = new TcpClientStage(options, timeProvider: time);
            var failures = new ConcurrentQueue<ConnectFailedEvent>();
            var closes = new ConcurrentQueue<DisconnectedEvent>();
            client.ConnectFailed += (_, e) => failures.Enqueue(e);
            client.Disconnected += (_, e) => closes.Enqueue(e);
            var first = true;
            client.Connected += (_, _) =>
            {
                if (!first)
                    return;
                first = false;
                // On the client's service thread: nothing is written until the server's refusal is over.
                refusing.WaitForDisconnectAsync(DisconnectReason.TlsError).Wait(TimeSpan.FromSeconds(10));
            };
            foreach (var line in new[] { "one", "two", "three" })
                Assert.True(await client.SendAsync(Encoding.ASCII.GetBytes(line)));
            client.Start();
            await Poll.UntilAsync(() => !failures.IsEmpty, "the refused attempt");
            var closed = Assert.Single(closes);
            Assert.Equal(DisconnectReason.TlsError, closed.Reason);
            Assert.StartsWith("tls handshake failed: ", closed.Detail);
            Assert.DoesNotContain("the server ended the connection", closed.Detail);
            await refusing.DisposeAsync();
            await HeldReachTheNextServerAsync(port, time, client, failures.Single());
        }

        /// <summary>
        /// The same port, now a server that asks for no client certificate: the client's next attempt (due after
        /// <paramref name="refused"/>'s wait) is taken, and what was held before the refusal arrives there, in order, once.
        /// </summary>
        private static async Task HeldReachTheNextServerAsync(int port, StageTime time, TcpClientStage client, ConnectFailedEvent refused)
        {
            await using var accepting = new FerryTestServer(new TcpServerStageOptions
            {
                Bind = $"127.0.0.1:{port}",
                Transport = StageTransport.Epoll,
                Framing = FramingSpec.Parse("lines"),
                Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
            });
            await accepting.StartAsync();
            time.Advance(refused.RetryIn);
            var packets = await accepting.WaitForPacketsAsync(3);
            Assert.Equal(["one", "two", "three"], packets.Select(p => p.Text));
            Assert.Equal(0, client.GetStats().EgressPacketsDroppedTotal);
        }
    }

    [Theory]
    [InlineData(SslProtocols.Tls13)]
    [InlineData(SslProtocols.Tls12)]
    public async Task A_connection_the_server_closes_after_it_answered_ends_as_a_lost_connection_and_the_attempts_start_again(SslProtocols protocol)
    {
        await using var h = await MutualTlsServerAsync();
        var time = ClientTime();
        // Two attempts allowed: were a served connection's end taken for a refusal, the second would give up.
        var options = ClientStage(h.EndPoint.Port, TestCertificates.Client, protocol, reconnectAttempts: 2);
        await using var client = new TcpClientStage(options, timeProvider: time);
        var failures = new ConcurrentQueue<ConnectFailedEvent>();
        var connecting = new ConcurrentQueue<ConnectingEvent>();
        client.ConnectFailed += (_, e) => failures.Enqueue(e);
        client.Connecting += (_, e) => connecting.Enqueue(e);
        client.Start();
        for (var round = 1; round <= 3; round++)
        {
            await Poll.UntilAsync(() => h.Events.OfType<ConnectedEvent>().Count() == round, $"connection {round} at the server");
            var served = h.Events.OfType<ConnectedEvent>().Last();
            Assert.True(await h.Stage.SendAsync(served.ConnectionId, Encoding.ASCII.GetBytes($"welcome {round}")));
            var received = round * "welcome 1\n".Length;
            await Poll.UntilAsync(() => client.GetStats().BytesReceivedTotal == received, $"the server's answer {round} at the client");
            Assert.True(h.Stage.Close(served.ConnectionId, "done"));
            await Poll.UntilAsync(() => failures.Count == round, $"the end of connection {round}");
            var lost = failures.Last();
            Assert.Equal(0, lost.Attempt);
            Assert.False(lost.GivingUp);
            Assert.Equal($"connection to 127.0.0.1:{h.EndPoint.Port} ended (remote_closed)", lost.Reason);
            time.Advance(lost.RetryIn);
        }
        Assert.All(connecting, c => Assert.Equal(1, c.Attempt));
        Assert.Equal(0, client.GetStats().TlsFailuresTotal);
    }

    [Fact]
    public async Task A_tls13_connection_the_server_never_answers_is_proven_by_staying_open_past_the_handshake_timeout()
    {
        await using var h = await MutualTlsServerAsync();
        var time = ClientTime();
        var options = ClientStage(h.EndPoint.Port, TestCertificates.Client, SslProtocols.Tls13, reconnectAttempts: 1);
        await using var client = new TcpClientStage(options with { Tls = options.Tls! with { HandshakeTimeout = TimeSpan.FromSeconds(2) } }, timeProvider: time);
        var failures = new ConcurrentQueue<ConnectFailedEvent>();
        client.ConnectFailed += (_, e) => failures.Enqueue(e);
        client.Start();
        var served = await h.WaitForEventAsync<ConnectedEvent>();
        await Poll.UntilAsync(() => client.IsConnected, "the client stage connected");
        // A server that only listens says nothing; the connection has lasted the handshake's limit on the client's clock.
        time.Advance(TimeSpan.FromSeconds(2));
        await time.SettleAsync(client);
        Assert.True(h.Stage.Close(served.ConnectionId, "done"));
        await Poll.UntilAsync(() => !failures.IsEmpty, "the end of the connection");
        var lost = failures.Single();
        Assert.Equal(0, lost.Attempt);
        Assert.False(lost.GivingUp);
        Assert.Equal(0, client.GetStats().TlsFailuresTotal);
    }

    /// <summary><c>ferry.tcp.tls.handshake_failures</c> of the stage <paramref name="stage"/>, by <c>tls.reason</c>.</summary>
    private static Dictionary<string, long> HandshakeFailuresOnTheMeter(string stage)
    {
        var failures = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name == "ferry.tcp.tls.handshake_failures")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? name = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == FerryMetrics.StageTag) name = (string?)tag.Value;
                else if (tag.Key == FerryMetrics.TlsReasonTag) reason = (string?)tag.Value;
            }
            if (name == stage && reason is not null)
                failures[reason] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return failures;
    }
}
