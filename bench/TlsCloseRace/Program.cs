// TlsCloseRace: close_notify (SslStream.ShutdownAsync on the close path) racing the connection's pending SslStream read,
// through Ferry's public API, on the stream transport with TLS.
//
//   dotnet run -c Release [-p:FerryRoot=/path/to/ferry] -- SECONDS [MODE] [LINGER] [TLS] [CLIENTS]
//     MODE    mix (default: rotates through the others) | close (server stage's Close at random moments)
//             | stop (server stage stopped at random moments) | client (TcpClientStage.Reconnect while the server sends)
//     LINGER  both (default) | default (close_linger 2s: FinishGracefullyAsync) | 0 (CloseAtOnce)
//     TLS     both (default) | 13 | 12
//     CLIENTS concurrent clients (default 16; client mode: client stages, default 8)
// Exit code 0 and a final "SURVIVED" line when the process lived through it; a crash kills the process (glibc abort, SIGSEGV).
// TLSCLOSERACE_SERVER_TRANSPORT=epoll runs the server modes' stage on the epoll transport (Ferry's own OpenSSL session, driven
// on the service thread) instead: the same closes, for comparison. TLSCLOSERACE_PACE: see Program.Pace.
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Transport;

var seconds = args.Length > 0 ? double.Parse(args[0]) : 60;
var mode = args.Length > 1 ? args[1] : "mix";
var lingerArg = args.Length > 2 ? args[2] : "both";
var tlsArg = args.Length > 3 ? args[3] : "both";
var clientsArg = args.Length > 4 ? int.Parse(args[4]) : 0;

string[] modes = mode == "mix" ? ["close", "stop", "client"] : [mode];
TimeSpan[] lingers = lingerArg switch
{
    "both" => [CloseLingerDefault(), TimeSpan.Zero],
    "0" => [TimeSpan.Zero],
    "default" => [CloseLingerDefault()],
    _ => [TimeSpan.Parse(lingerArg)],
};
SslProtocols[] protocols = tlsArg switch
{
    "13" => [SslProtocols.Tls13],
    "12" => [SslProtocols.Tls12],
    _ => [SslProtocols.Tls13, SslProtocols.Tls12],
};
foreach (var m in modes)
    if (m is not ("close" or "stop" or "client"))
    {
        Console.Error.WriteLine($"unknown mode '{m}'");
        return 2;
    }

// A self-signed certificate made in code (localhost, 127.0.0.1), as PEM for the stages and as an X509Certificate2 for the raw server.
using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
var san = new SubjectAlternativeNameBuilder();
san.AddDnsName("localhost");
san.AddIpAddress(IPAddress.Loopback);
request.CertificateExtensions.Add(san.Build());
request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
var certPem = selfSigned.ExportCertificatePem();
var keyPem = key.ExportPkcs8PrivateKeyPem();
var serverCert = X509CertificateLoader.LoadPkcs12(selfSigned.Export(X509ContentType.Pfx), null);

var combos = (from l in lingers from p in protocols from m in modes select (Mode: m, Linger: l, Tls: p)).ToArray();
// Mixed: every combination in turn, a few seconds each, until the time is up.
var slice = TimeSpan.FromSeconds(Math.Max(2, Math.Min(10, seconds / combos.Length)));
var total = Stopwatch.StartNew();
var end = TimeSpan.FromSeconds(seconds);
long allConnections = 0;
Console.WriteLine($"TlsCloseRace: pid {Environment.ProcessId}, {seconds}s, mode {mode}, linger {lingerArg}, tls {tlsArg}, " +
    $"{combos.Length} combination(s), {slice.TotalSeconds}s each, server transport {Program.ServerTransport}; ferry assembly {typeof(TcpServerStage).Assembly.Location}");
var index = 0;
while (total.Elapsed < end)
{
    var combo = combos[index++ % combos.Length];
    var left = end - total.Elapsed;
    var length = left < slice ? left : slice;
    var label = $"{combo.Mode} linger={(combo.Linger == TimeSpan.Zero ? "0" : "default")} {(combo.Tls == SslProtocols.Tls13 ? "tls1.3" : "tls1.2")}";
    var counter = new Counter();
    var phaseEnd = new CancellationTokenSource(length);
    var watch = Stopwatch.StartNew();
    var report = Task.Run(async () =>
    {
        long last = 0;
        while (!phaseEnd.IsCancellationRequested)
        {
            try { await Task.Delay(1000, phaseEnd.Token); } catch (OperationCanceledException) { break; }
            var now = Interlocked.Read(ref counter.Connections);
            Console.WriteLine($"  [{total.Elapsed.TotalSeconds,6:F1}s] {label}: {now - last} connections/s (closes asked {Interlocked.Read(ref counter.Closes)})");
            last = now;
        }
    });
    Task phase = combo.Mode switch
    {
        "close" => ServerCloses(combo.Linger, combo.Tls, stopInstead: false, clientsArg > 0 ? clientsArg : 16, counter, phaseEnd.Token),
        "stop" => ServerCloses(combo.Linger, combo.Tls, stopInstead: true, clientsArg > 0 ? clientsArg : 16, counter, phaseEnd.Token),
        _ => ClientStageCloses(combo.Linger, combo.Tls, clientsArg > 0 ? clientsArg : 8, counter, phaseEnd.Token),
    };
    await phase;
    await report;
    allConnections += counter.Connections;
    Console.WriteLine($"phase {label}: {counter.Connections} connections in {watch.Elapsed.TotalSeconds:F1}s ({counter.Connections / watch.Elapsed.TotalSeconds:F0}/s)");
    GC.Collect();
}
Console.WriteLine($"SURVIVED: {allConnections} connections in {total.Elapsed.TotalSeconds:F0}s, no crash");
return 0;

static TimeSpan CloseLingerDefault() => new TcpServerStageOptions().CloseLinger;

// ---- the server stage closes (Close at a random moment, or a stop), while SslStream clients keep sending and reading ----
async Task ServerCloses(TimeSpan linger, SslProtocols tls, bool stopInstead, int clients, Counter counter, CancellationToken stop)
{
    TcpServerStage? stage = null;
    var endpoint = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
    IPEndPoint? current = null;

    TcpServerStage NewStage()
    {
        var bus = new InProcessBus();
        var s = new TcpServerStage(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = Program.ServerTransport,
            Framing = FramingSpec.Parse("lines"),
            MaxConnections = 0,
            CloseLinger = linger,
            StopGracePeriod = TimeSpan.FromMilliseconds(200),
            Tls = new TlsOptions
            {
                Secure = true,
                Certificate = new TlsCertificate { CertificatePem = certPem, PrivateKeyPem = keyPem },
                Protocols = tls,
            },
        }, bus);
        if (!stopInstead)
        {
            // Most connections are closed by the stage's service thread itself, from an inline packet_group handler, right
            // after it read the Nth line (N random): the client's next record is then on its way, and the pending read that
            // waits for it decrypts it on a pool thread while the service thread sends close_notify.
            var budget = new System.Collections.Concurrent.ConcurrentDictionary<Ferry.Connections.ConnectionId, int>();
            bus.Topic<PacketGroup>($"{s.Name}/packet_group").Subscribe((group, ct) =>
            {
                foreach (var packet in group)
                {
                    if (budget.TryGetValue(packet.ConnectionId, out var left))
                    {
                        if (left <= 1)
                        {
                            budget.TryRemove(packet.ConnectionId, out _);
                            if (s.Close(packet.ConnectionId, "race"))
                                Interlocked.Increment(ref counter.Closes);
                        }
                        else
                            budget[packet.ConnectionId] = left - 1;
                    }
                }
                return ValueTask.CompletedTask;
            });
            s.Disconnected += (sender, e) => budget.TryRemove(e.ConnectionId, out _);
            s.Connected += (_, e) =>
            {
                Interlocked.Increment(ref counter.Connections);
                var id = e.ConnectionId;
                if (Random.Shared.Next(4) != 0)
                {
                    budget[id] = Random.Shared.Next(1, 64);
                    return;
                }
                // The others from a pool thread, at a random moment while the client is sending.
                var delay = Random.Shared.Next(0, 4);
                var spin = Random.Shared.Next(0, 4000);
                _ = Task.Run(async () =>
                {
                    if (delay > 0)
                        await Task.Delay(delay);
                    Thread.SpinWait(spin);
                    if (s.Close(id, "race"))
                        Interlocked.Increment(ref counter.Closes);
                });
            };
        }
        else
            s.Connected += (_, _) => Interlocked.Increment(ref counter.Connections);
        return s;
    }

    var clientTasks = new List<Task>();
    for (var i = 0; i < clients; i++)
    {
        var burst = Pace switch { "burst" => true, "gap" => false, _ => i % 2 == 0 };
        clientTasks.Add(Task.Run(() => SslClientLoop(() => Volatile.Read(ref current), tls, burst, counter, stop)));
    }

    // The server also writes: a small broadcast every few ms, so its writes interleave with the reads and the close.
    var ticker = Task.Run(async () =>
    {
        var tick = "tick\n"u8.ToArray();
        while (!stop.IsCancellationRequested)
        {
            try { await Task.Delay(3, stop); } catch (OperationCanceledException) { break; }
            var s = Volatile.Read(ref stage);
            try { if (s is not null) await s.BroadcastAsync(tick); } catch (Exception) { }
        }
    });

    while (!stop.IsCancellationRequested)
    {
        var s = NewStage();
        Volatile.Write(ref stage, s);
        var local = await s.StartAsync();
        Volatile.Write(ref current, local);
        endpoint.TrySetResult(local);
        if (!stopInstead)
        {
            try { await Task.Delay(Timeout.Infinite, stop); } catch (OperationCanceledException) { }
        }
        else
        {
            // Let the clients connect and send, then stop at a random moment.
            try { await Task.Delay(Random.Shared.Next(30, 120), stop); } catch (OperationCanceledException) { }
            Thread.SpinWait(Random.Shared.Next(0, 20000));
            Interlocked.Increment(ref counter.Closes);
        }
        Volatile.Write(ref current, null);
        await s.StopAsync();
        await s.DisposeAsync();
    }
    await ticker;
    await Task.WhenAll(clientTasks);
}

// A plain .NET TLS client: connects, then writes small lines without pause while reading, until the server closes it.
static async Task SslClientLoop(Func<IPEndPoint?> endpoint, SslProtocols tls, bool burst, Counter counter, CancellationToken stop)
{
    var line = "0123456789012345678901234567890123456789012345\n"u8.ToArray();
    var buffer = new byte[4096];
    while (!stop.IsCancellationRequested)
    {
        var ep = endpoint();
        if (ep is null)
        {
            await Task.Delay(1);
            continue;
        }
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? ssl = null;
        try
        {
            await tcp.ConnectAsync(ep, stop);
            ssl = new SslStream(new NetworkStream(tcp, ownsSocket: false), false, (_, _, _, _) => true);
            using var handshakeLimit = CancellationTokenSource.CreateLinkedTokenSource(stop);
            handshakeLimit.CancelAfter(5000);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = tls }, handshakeLimit.Token);
            var s = ssl;
            var reader = Task.Run(async () =>
            {
                try { while (await s.ReadAsync(buffer) > 0) { } } catch (Exception) { }
            });
            var connectionLimit = Stopwatch.StartNew();
            var n = 0;
            try
            {
                while (!reader.IsCompleted && !stop.IsCancellationRequested && connectionLimit.ElapsedMilliseconds < 3000)
                {
                    await ssl.WriteAsync(line, stop);
                    // A gap between records, mostly short: the server drains what came and waits for the next one.
                    if (burst)
                    {
                        if ((++n & 31) == 0)
                            await Task.Yield();
                    }
                    else if ((++n & 7) == 0)
                        await Task.Delay(1);
                    else
                        await Task.Yield();
                }
            }
            catch (Exception)
            {
            }
            // Then close our side too (the server lingers until our EOF).
            // No close_notify from here: ShutdownAsync with this side's reader still running is the very race under test, on
            // the harness's own session. A FIN alone.
            tcp.Shutdown(SocketShutdown.Send);
            await Task.WhenAny(reader, Task.Delay(2000));
        }
        catch (Exception)
        {
            // Refused (the stage stopped), reset, or the handshake cut off: try again.
        }
        finally
        {
            ssl?.Dispose();
        }
    }
}

// ---- client stages (stream transport, TLS) reconnect at random moments while a plain SslStream server keeps sending ----
async Task ClientStageCloses(TimeSpan linger, SslProtocols tls, int stages, Counter counter, CancellationToken stop)
{
    var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start(1024);
    var ep = (IPEndPoint)listener.LocalEndpoint;
    var serverConnections = new List<Task>();
    var acceptLoop = Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            Socket accepted;
            try { accepted = await listener.AcceptSocketAsync(stop); } catch (Exception) { break; }
            lock (serverConnections)
            {
                serverConnections.RemoveAll(t => t.IsCompleted);
                serverConnections.Add(Task.Run(() => ServeSending(accepted, tls, stop)));
            }
        }
    });

    var drivers = new List<Task>();
    var all = new List<TcpClientStage>();
    for (var i = 0; i < stages; i++)
    {
        var stage = new TcpClientStage(new TcpClientStageOptions
        {
            Name = $"client{i}",
            Connect = $"127.0.0.1:{ep.Port}",
            Transport = StageTransport.Stream,
            Framing = FramingSpec.Parse("lines"),
            CloseLinger = linger,
            ReconnectWait = TimeSpan.FromMilliseconds(1),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(5),
            ReconnectJitter = 0,
            StopGracePeriod = TimeSpan.FromMilliseconds(200),
            EgressWhileDisconnected = DisconnectedEgressPolicy.Drop,
            Tls = new TlsOptions
            {
                Secure = true,
                ServerName = "localhost",
                CaCertificatePem = certPem,
                Protocols = tls,
            },
        }, new InProcessBus());
        stage.Connected += (_, _) => Interlocked.Increment(ref counter.Connections);
        all.Add(stage);
        stage.Start();
        drivers.Add(Task.Run(async () =>
        {
            var line = "client-line-0123456789\n"u8.ToArray();
            while (!stop.IsCancellationRequested)
            {
                try { await stage.WaitConnectedAsync(stop); } catch (OperationCanceledException) { break; }
                // The client stage also sends a little, then closes at a random moment while the server's lines arrive.
                var delay = Random.Shared.Next(0, 6);
                for (var k = 0; k < 4; k++)
                    await stage.SendAsync(line);
                if (delay > 0)
                    try { await Task.Delay(delay, stop); } catch (OperationCanceledException) { break; }
                Thread.SpinWait(Random.Shared.Next(0, 4000));
                if (stage.Reconnect("race"))
                    Interlocked.Increment(ref counter.Closes);
                else
                    await Task.Delay(1);
            }
        }));
    }
    await Task.WhenAll(drivers);
    foreach (var stage in all)
        await stage.DisposeAsync();
    listener.Stop();
    await acceptLoop;
    Task[] left;
    lock (serverConnections)
        left = serverConnections.ToArray();
    await Task.WhenAny(Task.WhenAll(left), Task.Delay(5000));
}

// The raw server of the client mode: TLS, then small lines written without pause while it reads, until the client goes.
async Task ServeSending(Socket socket, SslProtocols tls, CancellationToken stop)
{
    socket.NoDelay = true;
    using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), false);
    try
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stop);
        limit.CancelAfter(5000);
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = serverCert, EnabledSslProtocols = tls }, limit.Token);
        var buffer = new byte[4096];
        var reader = Task.Run(async () =>
        {
            try { while (await ssl.ReadAsync(buffer) > 0) { } } catch (Exception) { }
        });
        var line = "server-line-012345678901234567890123456789\n"u8.ToArray();
        var n = 0;
        var connectionLimit = Stopwatch.StartNew();
        try
        {
            while (!reader.IsCompleted && !stop.IsCancellationRequested && connectionLimit.ElapsedMilliseconds < 3000)
            {
                await ssl.WriteAsync(line, stop);
                if ((++n & 31) == 0)
                    await Task.Yield();
            }
        }
        catch (Exception)
        {
        }
        // A FIN alone (see above): no ShutdownAsync while this side's reader runs.
        try { socket.Shutdown(SocketShutdown.Send); } catch (Exception) { }
        await Task.WhenAny(reader, Task.Delay(2000));
    }
    catch (Exception)
    {
    }
}

static partial class Program
{
    /// <summary>
    /// How the SslStream clients of the server modes write: "burst" back to back (a yield every 32 lines), "gap" a yield after
    /// every line and 1 ms every 8; unset (default) half of the clients each way. Environment variable TLSCLOSERACE_PACE.
    /// </summary>
    public static readonly string? Pace = Environment.GetEnvironmentVariable("TLSCLOSERACE_PACE");

    /// <summary>The server modes' transport: stream (default) or, with TLSCLOSERACE_SERVER_TRANSPORT=epoll, epoll.</summary>
    public static readonly StageTransport ServerTransport =
        Environment.GetEnvironmentVariable("TLSCLOSERACE_SERVER_TRANSPORT") is "epoll" ? StageTransport.Epoll : StageTransport.Stream;
}

sealed class Counter
{
    public long Connections;
    public long Closes;
}
