using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Stages;

/// <summary>
/// Server and client TLS over loopback, with certificates made in process; the server stage on the stream
/// transport (SslStream) and on the epoll transport (OpenSSL driven by the service thread).
/// </summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class TlsStageTests(StageTransport serverTransport)
{
    public sealed class OnStream() : TlsStageTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsStageTests(StageTransport.Epoll);

    private static TlsOptions ServerTls(ClientCertificateMode clientCertificate = ClientCertificateMode.None) => new()
    {
        Secure = true,
        Certificate = TestCertificates.ServerCertificate,
        CaCertificatePem = clientCertificate == ClientCertificateMode.None ? null : TestCertificates.AuthorityPem,
        ClientCertificate = clientCertificate,
    };

    private TcpServerStageOptions Server(TlsOptions tls, string framing = "lines") => new()
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse(framing),
        Tls = tls,
        Transport = serverTransport,
    };

    [Theory]
    [InlineData(SslProtocols.Tls13, "Tls13")]
    [InlineData(SslProtocols.Tls12, "Tls12")]
    public async Task A_dotnet_client_talks_tls_and_connected_carries_what_was_negotiated(SslProtocols protocol, string expected)
    {
        await using var h = new FerryTestServer(Server(ServerTls()));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(protocol));
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.NotNull(connected.Tls);
        Assert.Equal(expected, connected.Tls!.Protocol);
        Assert.Equal(client.Tls!.NegotiatedCipherSuite.ToString(), connected.Tls.CipherSuite);
        Assert.Equal("localhost", connected.Tls.ServerName);
        Assert.Null(connected.Tls.PeerCertificateSubject);

        await client.SendAsync("hello\nworld\n"u8.ToArray());
        var packets = await h.WaitForPacketsAsync(p => p.Count == 2, "two lines over TLS");
        Assert.Equal(["hello", "world"], packets.Select(p => Encoding.ASCII.GetString(p.Payload)));
        Assert.True(await h.Stage.SendAsync(connected.ConnectionId, "back"u8.ToArray()));
        Assert.Equal("back\n"u8.ToArray(), await client.ReceiveExactlyAsync(5));
    }

    [Fact]
    public async Task A_connection_handler_sees_what_tls_negotiated_and_answers_over_tls()
    {
        await using var h = new FerryTestServer(Server(ServerTls()), recordPackets: false);
        var seen = new TaskCompletionSource<TlsConnectionInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.MapConnections(async (connection, ct) =>
        {
            seen.TrySetResult(connection.Tls);
            await foreach (var message in connection.ReadAsync(ct))
                await connection.SendAsync(message.Payload, cancellationToken: ct);
        });
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(SslProtocols.Tls13));
        var tls = await seen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(tls);
        Assert.Equal("Tls13", tls!.Protocol);
        Assert.Equal("localhost", tls.ServerName);
        await client.SendAsync("secret\n"u8.ToArray());
        Assert.Equal("secret\n"u8.ToArray(), await client.ReceiveExactlyAsync(7));
    }

    [Fact]
    public async Task The_server_stage_runs_tls_on_the_transport_asked_for_and_a_client_stage_only_on_streams()
    {
        await using var h = new FerryTestServer(Server(ServerTls()));
        await h.StartAsync();
        if (serverTransport == StageTransport.Epoll)
            Assert.IsType<Ferry.Transport.Epoll.EpollTransport>(h.Stage.Core.Transport);
        else
            Assert.IsType<Ferry.Transport.Streams.StreamTransport>(h.Stage.Core.Transport);
        var problems = Assert.Throws<StageOptionsException>(() => new TcpClientStage(ClientStage(h.EndPoint.Port, "localhost") with { Transport = StageTransport.Epoll })).Problems;
        Assert.Contains(problems, p => p.StartsWith("TcpClientStageOptions.Transport: a client stage's TLS runs on the stream transport"));
    }

    [Fact]
    public async Task Mutual_tls_accepts_a_client_certificate_from_the_ca_and_reports_it()
    {
        await using var h = new FerryTestServer(Server(ServerTls(ClientCertificateMode.Required)));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: TestCertificates.Client));
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Equal("CN=terminal-7", connected.Tls!.PeerCertificateSubject);
        Assert.Equal(TestCertificates.Client.Thumbprint, connected.Tls.PeerCertificateThumbprint);
        await client.SendAsync("ping\n"u8.ToArray());
        await h.WaitForPacketsAsync(p => p.Count == 1, "a line from the mTLS client");
    }

    public enum BadClient { None, OtherAuthority, Expired, NotYetValid }

    /// <summary>A client certificate whose validity begins tomorrow (a clock set wrong at one end).</summary>
    private static readonly Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2> FutureClient = new(() =>
        Ferry.Transport.Tls.CertificateMaker.CreateClient(TestCertificates.Authority, "terminal-from-tomorrow",
            DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(30)));

    [Theory]
    [InlineData(BadClient.None, "no client certificate")]
    [InlineData(BadClient.OtherAuthority, "untrusted")]
    [InlineData(BadClient.Expired, "expired")]
    [InlineData(BadClient.NotYetValid, "not yet valid")] // was "expired"
    public async Task Mutual_tls_refuses_a_client_and_says_why(BadClient bad, string reason)
    {
        await using var h = new FerryTestServer(Server(ServerTls(ClientCertificateMode.Required)));
        await h.StartAsync();
        var certificate = bad switch
        {
            BadClient.OtherAuthority => TestCertificates.ClientOfOtherAuthority,
            BadClient.Expired => TestCertificates.ExpiredClient,
            BadClient.NotYetValid => FutureClient.Value,
            _ => null,
        };
        try
        {
            // Under TLS 1.3 the client finishes before the server has judged its certificate; it learns on its next read.
            await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: certificate));
            Assert.True(await client.WaitClosedAsync());
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(DisconnectReason.TlsError, closed.Reason);
        Assert.Equal("tls_error", closed.ReasonName);
        Assert.StartsWith(reason, closed.Detail);
        Assert.Empty(h.Events.OfType<ConnectedEvent>());
        Assert.Empty(h.Packets);
        Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);
    }

    [Fact]
    public async Task A_client_that_sends_nothing_is_closed_at_the_handshake_deadline_on_the_stage_clock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var events = new ConcurrentQueue<DisconnectedEvent>();
        await using var stage = new TcpServerStage(Server(ServerTls() with { HandshakeTimeout = TimeSpan.FromSeconds(10) }), timeProvider: time);
        stage.Disconnected += (_, e) => events.Enqueue(e);
        var endPoint = await stage.StartAsync();
        using var silent = await FramedTestClient.ConnectAsync(endPoint);
        await Poll.UntilAsync(() => stage.ConnectionCount == 1, "the silent client to be accepted");
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(1, stage.ConnectionCount);
        Assert.Empty(events);
        time.Advance(TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(() => !events.IsEmpty, "the handshake deadline");
        Assert.Equal(DisconnectReason.TlsHandshakeTimeout, events.Single().Reason);
        Assert.Equal("tls_handshake_timeout", events.Single().ReasonName);
        Assert.True(await silent.WaitClosedAsync());
        Assert.Equal(1, stage.GetStats().TlsFailuresTotal);
    }

    private static TcpClientStageOptions ClientStage(int port, string serverName, string framing = "lines") => new()
    {
        Connect = $"127.0.0.1:{port}",
        Framing = FramingSpec.Parse(framing),
        ReconnectWait = TimeSpan.FromMilliseconds(50),
        Tls = new TlsOptions { Secure = true, ServerName = serverName, CaCertificatePem = TestCertificates.AuthorityPem },
    };

    [Fact]
    public async Task A_client_stages_handshake_timeout_is_said_with_its_value()
    {
        // A server that accepts and never answers the ClientHello. Before: "not done within tls.handshake_timeout" and no value,
        // which sent a user of ferry connect (whose flag is --tls-handshake-timeout) looking for a key.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var time = new StageTime();
        time.SetUtcNow(DateTimeOffset.UtcNow); // the test certificates are valid around the real now
        var options = ClientStage(port, "localhost");
        await using var client = new TcpClientStage(options with { Tls = options.Tls! with { HandshakeTimeout = TimeSpan.FromSeconds(3) } }, timeProvider: time);
        var failures = new ConcurrentQueue<ConnectFailedEvent>();
        client.ConnectFailed += (_, e) => failures.Enqueue(e);
        client.Start();
        using var accepted = await silent.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await time.AdvanceUntilAsync(() => !failures.IsEmpty, TimeSpan.FromMilliseconds(500), "the handshake deadline");
        Assert.StartsWith($"TLS handshake with 127.0.0.1:{port} not done within tls.handshake_timeout 3000 ms (tls_handshake_timeout", failures.First().Reason);
    }

    [Fact]
    public async Task A_client_stage_talks_to_a_tls_server_when_the_name_checks_out()
    {
        await using var h = new FerryTestServer(Server(ServerTls()));
        await h.StartAsync();
        var bus = new InProcessBus();
        await using var client = new TcpClientStage(ClientStage(h.EndPoint.Port, "localhost"), bus);
        var tls = new TaskCompletionSource<TlsConnectionInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += (_, e) => tls.TrySetResult(e.Tls);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var info = await tls.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("localhost", info!.ServerName);
        Assert.Equal("CN=localhost", info.PeerCertificateSubject);
        Assert.True(await client.SendAsync("over tls"u8.ToArray()));
        var packets = await h.WaitForPacketsAsync(p => p.Count == 1, "the client stage's line");
        Assert.Equal("over tls", Encoding.ASCII.GetString(packets[0].Payload));
    }

    [Fact]
    public async Task A_client_stage_refuses_a_server_whose_name_does_not_match()
    {
        await using var h = new FerryTestServer(Server(ServerTls()));
        await h.StartAsync();
        var closed = new TaskCompletionSource<DisconnectedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new TcpClientStage(ClientStage(h.EndPoint.Port, "wrong.example"));
        client.Disconnected += (_, e) => closed.TrySetResult(e);
        client.Start();
        var e = await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(DisconnectReason.TlsError, e.Reason);
        Assert.StartsWith("name mismatch", e.Detail);
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task A_client_stage_refuses_a_server_whose_certificate_is_not_valid_yet_and_says_so_not_expired()
    {
        var now = DateTimeOffset.UtcNow;
        using var future = Ferry.Transport.Tls.CertificateMaker.CreateServer(TestCertificates.Authority, ["localhost", "127.0.0.1"], now.AddDays(1), now.AddDays(30));
        await using var h = new FerryTestServer(Server(ServerTls() with { Certificate = TestCertificates.AsOption(future) }));
        await h.StartAsync();
        var closed = new TaskCompletionSource<DisconnectedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new TcpClientStage(ClientStage(h.EndPoint.Port, "localhost"));
        client.Disconnected += (_, e) => closed.TrySetResult(e);
        client.Start();
        var e = await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(DisconnectReason.TlsError, e.Reason);
        Assert.Equal("not yet valid", e.Detail);
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task A_refused_tls_handshake_is_a_failed_attempt_that_counts_against_reconnect_attempts()
    {
        // Before: the TCP connect counted as success, so a refused handshake was "connection lost", attempt 0, and a
        // client with reconnect_attempts retried a server it would never accept for ever.
        await using var h = new FerryTestServer(Server(ServerTls()));
        await h.StartAsync();
        var time = new StageTime();
        time.SetUtcNow(DateTimeOffset.UtcNow); // the test certificates are valid around the real now
        await using var client = new TcpClientStage(ClientStage(h.EndPoint.Port, "wrong.example") with
        {
            ReconnectAttempts = 2,
            ReconnectWait = TimeSpan.FromMilliseconds(100),
            ReconnectJitter = 0,
        }, timeProvider: time);
        var failures = new ConcurrentQueue<ConnectFailedEvent>();
        client.ConnectFailed += (_, e) => failures.Enqueue(e);
        var connecting = client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        await Poll.UntilAsync(() => !failures.IsEmpty, "the first failed attempt");
        var first = failures.Single();
        Assert.Equal(1, first.Attempt);
        Assert.StartsWith($"TLS handshake with 127.0.0.1:{h.EndPoint.Port} failed: name mismatch", first.Reason);
        Assert.False(first.GivingUp);

        time.Advance(first.RetryIn);
        var gaveUp = await Assert.ThrowsAsync<IOException>(() => connecting);
        Assert.Contains("gave up", gaveUp.Message);
        Assert.Contains("name mismatch", gaveUp.Message);
        Assert.Equal([1, 2], failures.Select(f => f.Attempt));
        Assert.True(failures.Last().GivingUp);
    }

    [Fact]
    public async Task A_client_stage_that_refuses_a_server_certificate_says_what_it_saw_and_what_it_would_accept()
    {
        // Before: only "name mismatch" or "untrusted (UntrustedRoot)", with nothing on which certificate or what to change.
        await using var h = new FerryTestServer(Server(ServerTls()));
        await h.StartAsync();
        async Task<string> RefusalAsync(TcpClientStageOptions options)
        {
            var closed = new TaskCompletionSource<DisconnectedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var client = new TcpClientStage(options);
            client.Disconnected += (_, e) => closed.TrySetResult(e);
            client.Start();
            var e = await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(DisconnectReason.TlsError, e.Reason);
            return e.Detail!;
        }

        var wrongName = await RefusalAsync(ClientStage(h.EndPoint.Port, "wrong.example"));
        Assert.Equal("name mismatch: the server's certificate (CN=localhost; names localhost, 127.0.0.1) is not for 'wrong.example'; "
            + "dial a name it carries or set tls.server_name (--tls-server-name) to one", wrongName);

        var systemRoots = ClientStage(h.EndPoint.Port, "localhost");
        var untrusted = await RefusalAsync(systemRoots with { Tls = systemRoots.Tls! with { CaCertificatePem = null } });
        Assert.StartsWith("untrusted", untrusted);
        Assert.EndsWith("the server's certificate (CN=localhost, issued by CN=Ferry Test CA) does not chain to the system's trusted roots; "
            + "give its CA with tls.ca_certificate_file (--tls-ca)", untrusted);
    }

    public static TheoryData<string> Specs => FramedStageTests.Specs;

    [Theory]
    [MemberData(nameof(Specs))]
    public async Task Every_framing_crosses_tls_between_a_client_stage_and_a_server_stage(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        var bus = new InProcessBus();
        await using var server = new TcpServerStage(Server(ServerTls()) with { Framing = framing }, bus);
        bus.Topic<PacketGroup>("tcp_server/packet_group").Subscribe(async (g, ct) =>
        {
            foreach (var p in g)
                await bus.Topic<EgressMessage>("tcp_server/egress_packets").PublishAsync(EgressMessage.To(p.ConnectionId, p.Payload, p.Fields), ct);
        });
        var endPoint = await server.StartAsync();
        await using var client = new TcpClientStage(ClientStage(endPoint.Port, "localhost") with { Framing = framing }, bus);
        var received = new ConcurrentQueue<(byte[] Payload, FrameFields Fields)>();
        bus.Topic<PacketGroup>("tcp_client/packet_group").Subscribe((g, _) =>
        {
            foreach (var p in g)
                received.Enqueue((p.Payload.ToArray(), p.Fields));
            return default;
        });
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var sent = new List<byte[]>();
        var sentFields = new List<FrameFields>();
        // Messages sent back to back: several frames share a TLS record and a read.
        for (var i = 0; i < 20; i++)
        {
            var payload = Encoding.ASCII.GetBytes(framing is FixedFraming ? $"message {i,8}" : $"message {i}");
            var fields = framing switch
            {
                HeaderFraming => new FrameFields((ushort)(i + 1), (ushort)(i * 3)),
                MuxFraming => new FrameFields(StreamId: (uint)(i + 1)),
                _ => default,
            };
            sent.Add(payload);
            sentFields.Add(fields);
            Assert.True(await client.SendAsync(payload, fields));
        }
        if (framing is DelimiterFraming { Position: DelimiterPosition.Prefix })
            await client.SendAsync("end"u8.ToArray());
        // A prefix-delimited frame ends where the next begins: the last echo stays open.
        await Poll.UntilAsync(() => received.Count >= 19, "the echoes over TLS");
        var include = framing is DelimiterFraming { IncludeDelimiter: true };
        var echoes = received.ToList();
        for (var i = 0; i < echoes.Count && i < 20; i++)
        {
            if (!include)
                Assert.Equal(sent[i], echoes[i].Payload);
            Assert.Equal(sentFields[i], echoes[i].Fields);
        }
    }

    [Fact]
    public async Task A_large_message_spans_many_records_and_reads_and_arrives_whole()
    {
        await using var h = new FerryTestServer(Server(ServerTls(), "u32be") with { Framing = FramingSpec.Parse("u32be,max_frame_bytes=4194304"), EgressBufferBytes = 8 * 1024 * 1024 });
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        var payload = new byte[3 * 1024 * 1024];
        new Random(7).NextBytes(payload);
        var frame = new byte[4 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame, 4);
        await client.SendAsync(frame);
        var packets = await h.WaitForPacketsAsync(p => p.Count == 1, "the 3 MiB message");
        Assert.Equal(payload, packets[0].Payload);
        var id = packets[0].Connection;
        Assert.True(await h.Stage.SendAsync(id, payload));
        var echo = await client.ReceiveExactlyAsync(frame.Length);
        Assert.Equal(frame, echo);
    }

    [Fact]
    public async Task A_session_framing_speaks_its_handshake_after_the_tls_one()
    {
        // ZMTP's greeting is written the moment a connection opens: under TLS it waits for the TLS
        // handshake, then goes first.
        var bus = new InProcessBus();
        await using var server = new TcpServerStage(Server(ServerTls(), "zmtp,socket=pull"), bus);
        var received = new ConcurrentQueue<string>();
        bus.Topic<PacketGroup>("tcp_server/packet_group").Subscribe((g, _) =>
        {
            foreach (var p in g)
                received.Enqueue(Encoding.ASCII.GetString(p.Payload.Span));
            return default;
        });
        var endPoint = await server.StartAsync();
        await using var client = new TcpClientStage(ClientStage(endPoint.Port, "localhost", "zmtp,socket=push"), bus);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        for (var i = 0; i < 3; i++)
            Assert.True(await client.SendAsync(Encoding.ASCII.GetBytes($"zmtp over tls {i}")));
        await Poll.UntilAsync(() => received.Count == 3, "three ZMTP messages over TLS");
        Assert.Equal(["zmtp over tls 0", "zmtp over tls 1", "zmtp over tls 2"], received);
    }

    [Theory]
    [InlineData("a.test", "CN=a.test")]
    [InlineData("api.b.test", "CN=*.b.test")]
    [InlineData("localhost", "CN=localhost")]
    public async Task Sni_picks_the_certificate_for_the_name_the_client_asks_for(string serverName, string subject)
    {
        var now = DateTimeOffset.UtcNow;
        var a = Ferry.Transport.Tls.CertificateMaker.CreateServer(TestCertificates.Authority, ["a.test"], now.AddMinutes(-5), now.AddDays(1));
        var b = Ferry.Transport.Tls.CertificateMaker.CreateServer(TestCertificates.Authority, ["*.b.test"], now.AddMinutes(-5), now.AddDays(1));
        await using var h = new FerryTestServer(Server(ServerTls() with
        {
            SniCertificates = new Dictionary<string, TlsCertificate> { ["a.test"] = TestCertificates.AsOption(a), ["*.b.test"] = TestCertificates.AsOption(b) },
        }));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(serverName: serverName));
        Assert.Equal(subject, client.Tls!.RemoteCertificate!.Subject);
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Equal(serverName, connected.Tls!.ServerName);
    }

    [Fact]
    public async Task Alpn_agrees_on_a_protocol_and_connected_says_which()
    {
        await using var h = new FerryTestServer(Server(ServerTls() with { ApplicationProtocols = ["ferry/2", "ferry/1"] }));
        await h.StartAsync();
        var client = ClientStage(h.EndPoint.Port, "localhost");
        await using var stage = new TcpClientStage(client with { Tls = client.Tls! with { ApplicationProtocols = ["ferry/1"] } });
        var tls = new TaskCompletionSource<TlsConnectionInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        stage.Connected += (_, e) => tls.TrySetResult(e.Tls);
        await stage.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal("ferry/1", (await tls.Task.WaitAsync(TimeSpan.FromSeconds(10)))!.ApplicationProtocol);
        var atServer = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal("ferry/1", atServer.Tls!.ApplicationProtocol);
    }

    [Fact]
    public async Task A_pkcs12_file_serves_like_pem()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, TestCertificates.Server.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12, "secret"));
            await using var h = new FerryTestServer(Server(ServerTls() with
            {
                Certificate = new TlsCertificate { Pkcs12File = path, Pkcs12Password = "secret" },
            }));
            await h.StartAsync();
            await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
            Assert.Equal("CN=localhost", client.Tls!.RemoteCertificate!.Subject);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Rotated_certificate_files_serve_new_connections_while_established_ones_keep_theirs()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-reload-");
        try
        {
            var now = DateTimeOffset.UtcNow;
            var certFile = Path.Combine(dir.FullName, "server.pem");
            var keyFile = Path.Combine(dir.FullName, "server.key");
            async Task WriteAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
            {
                var (cert, key) = Ferry.Transport.Tls.CertificateMaker.ToPem(certificate);
                await File.WriteAllTextAsync(certFile, cert);
                await File.WriteAllTextAsync(keyFile, key);
            }
            var first = Ferry.Transport.Tls.CertificateMaker.CreateServer(TestCertificates.Authority, ["localhost"], now.AddMinutes(-5), now.AddDays(1));
            var second = Ferry.Transport.Tls.CertificateMaker.CreateServer(TestCertificates.Authority, ["localhost"], now.AddMinutes(-5), now.AddDays(2));
            await WriteAsync(first);
            var time = new FakeTimeProvider(now);
            var tls = ServerTls() with { Certificate = new TlsCertificate { CertificateFile = certFile, PrivateKeyFile = keyFile } };
            await using var stage = new TcpServerStage(Server(tls), timeProvider: time);
            var endPoint = await stage.StartAsync();

            await using var before = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient());
            Assert.Equal(first.Thumbprint, new System.Security.Cryptography.X509Certificates.X509Certificate2(before.Tls!.RemoteCertificate!).Thumbprint);
            await WriteAsync(second);
            time.Advance(TimeSpan.FromSeconds(2)); // the files are looked at once a second on the stage clock
            await using var after = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient());
            Assert.Equal(second.Thumbprint, new System.Security.Cryptography.X509Certificates.X509Certificate2(after.Tls!.RemoteCertificate!).Thumbprint);

            // The connection made before the rotation still works on its certificate.
            await Poll.UntilAsync(() => stage.ConnectionCount == 2, "both connections");
            await before.SendAsync("still here\n"u8.ToArray());
            await Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal == 1, "the old connection's line");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
