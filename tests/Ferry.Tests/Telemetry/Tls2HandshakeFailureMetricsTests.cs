using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Authentication;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Telemetry;

/// <summary>
/// <c>ferry.tcp.tls.handshake_failures</c> counts failed handshakes only, each under its own reason: a revoked client
/// certificate is <c>revoked</c> (it was <c>failed</c>), and a TLS error on an established session (a record that does not
/// decrypt) is no handshake failure: it is in <c>ferry.tcp.disconnections</c> (reason <c>tls_error</c>) only, and not in
/// <see cref="SocketStats.TlsFailuresTotal"/>.
/// </summary>
/// <param name="transport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class Tls2HandshakeFailureMetricsTests(StageTransport transport)
{
    public sealed class OnStream() : Tls2HandshakeFailureMetricsTests(StageTransport.Stream);

    public sealed class OnEpoll() : Tls2HandshakeFailureMetricsTests(StageTransport.Epoll);

    [Fact]
    public async Task A_revoked_certificate_is_tagged_revoked_and_a_tls_error_after_the_handshake_is_a_disconnection_only()
    {
        var name = "tls2_" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        var crl = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], null, now.AddDays(1));
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Name = name,
            Bind = "127.0.0.1:0",
            Transport = transport,
            Framing = FramingSpec.Parse("lines"),
            Tls = TestCertificates.MutualTlsServer with
            {
                CertificateRevocationListPem = crl,
            },
        });
        await h.StartAsync();
        using var tracking = FerryMetrics.Track(h.Stage);

        try
        {
            // Under TLS 1.3 the client finishes before the server has judged its certificate; it learns on its next read.
            await using var refused = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: lost));
            await refused.WaitClosedAsync();
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        var revoked = await h.WaitForDisconnectAsync(DisconnectReason.TlsError);
        Assert.Equal("revoked", revoked.Detail);

        // A served client, then a record that does not decrypt: a TLS error after a handshake that succeeded.
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: TestCertificates.Client));
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        await client.SendAsync("fine\n"u8.ToArray());
        await h.WaitForPacketsAsync(1);
        byte[] garbage = [0x17, 0x03, 0x03, 0x00, 0x20, .. Enumerable.Range(1, 32).Select(i => (byte)i)];
        await client.Socket.SendAsync(garbage);
        var broken = await h.WaitForDisconnectAsync(id);
        Assert.Equal(DisconnectReason.TlsError, broken.Reason);

        var failures = new ConcurrentDictionary<string, long>();
        var disconnections = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name is "ferry.tcp.tls.handshake_failures" or "ferry.tcp.disconnections")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? stage = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == FerryMetrics.StageTag) stage = (string?)tag.Value;
                else if (tag.Key is FerryMetrics.TlsReasonTag or FerryMetrics.ReasonTag) reason = (string?)tag.Value;
            }
            if (stage != name || reason is null)
                return;
            (instrument.Name == "ferry.tcp.disconnections" ? disconnections : failures)[reason] = value;
        });
        listener.Start();
        await Poll.UntilAsync(() =>
        {
            listener.RecordObservableInstruments();
            return disconnections.GetValueOrDefault("tls_error") == 2;
        }, "both closes on the meter", seen: () => string.Join(", ", disconnections.Select(d => $"{d.Key}={d.Value}")));

        Assert.Equal(new Dictionary<string, long> { ["revoked"] = 1 }, failures.ToDictionary());
        Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);
        Assert.Equal(failures.Values.Sum(), h.Stage.GetStats().TlsFailuresTotal);
    }
}

/// <summary>Every reason the stage's checks give has its own <c>tls.reason</c> tag; a TLS error after the handshake has none.</summary>
public sealed class Tls2HandshakeFailureReasonTests
{
    [Theory]
    [InlineData(DisconnectReason.TlsError, "no client certificate", "no_client_certificate")]
    [InlineData(DisconnectReason.TlsError, "expired", "expired")]
    [InlineData(DisconnectReason.TlsError, "not yet valid", "not_yet_valid")]
    [InlineData(DisconnectReason.TlsError, "revoked", "revoked")]
    [InlineData(DisconnectReason.TlsError, "untrusted", "untrusted")]
    [InlineData(DisconnectReason.TlsError, "untrusted (NotSignatureValid): a signature in the client's certificate chain does not verify", "untrusted")]
    [InlineData(DisconnectReason.TlsError, "name mismatch: the server's certificate (CN=localhost; names localhost) is not for 'db.example'", "name_mismatch")]
    [InlineData(DisconnectReason.TlsError, "tls handshake failed: protocol error (error:0A00010B:SSL routines::wrong version number)", "failed")]
    [InlineData(DisconnectReason.TlsHandshakeTimeout, "tls handshake not completed within 10000 ms", "timeout")]
    public void Every_reason_the_stage_gives_has_its_tag(DisconnectReason reason, string detail, string tag)
    {
        var e = new DisconnectedEvent("s", DateTimeOffset.UnixEpoch, default, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), reason, detail, null)
        {
            DuringHandshake = true,
        };
        Assert.True(FerryMetrics.IsHandshakeFailure(e));
        Assert.Equal(tag, FerryMetrics.TlsReason(e));
    }

    [Theory]
    [InlineData("tls error: protocol error (error:0A000119:SSL routines::decryption failed or bad record mac)")]
    [InlineData("tls error: the client asks for TLS answers (key updates) and does not read them (131072 bytes wait)")]
    public void A_tls_error_after_the_handshake_is_no_handshake_failure(string detail)
    {
        var e = new DisconnectedEvent("s", DateTimeOffset.UnixEpoch, default, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), DisconnectReason.TlsError, detail, null);
        Assert.False(FerryMetrics.IsHandshakeFailure(e));
    }
}
