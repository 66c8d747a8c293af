using System.Text;
using Ferry.Bridge;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Hosting;
using Ferry.Nats;
using Ferry.Stages;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ferry.Examples.Tests;

/// <summary>
/// README.md's C# samples that are whole programs run here as written: each sample sits in a test between
/// <c>// README sample: NAME</c> and <c>// README sample end</c>, and another test checks that README.md quotes exactly
/// those lines, so neither the API nor the README can drift from the other unnoticed. Samples that cannot run in a
/// test (a fixed port on every interface, a peer process) are compiled here the same way (README.md's library and Generic Host
/// samples, docs/bridge.md's usage sample, docs/nats.md's gateway sample).
/// </summary>
public sealed class ReadmeSampleTests
{
    private const string ThisFile = "tests/Ferry.Examples.Tests/ReadmeSampleTests.cs";

    [Fact]
    public async Task The_test_kit_sample_runs_as_written()
    {
        // README sample: test kit
        await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") });
        using var client = await server.ConnectAsync(new FramedTestClientOptions { Framing = FramingSpec.Parse("lines") });
        var connected = await server.WaitForConnectionAsync(client);
        await client.SendMessageAsync("hello");                                  // framed; SendAsync sends raw bytes
        Assert.Equal("hello", (await server.WaitForPacketAsync()).Text);
        await server.Stage.SendAsync(connected.ConnectionId, "hi"u8.ToArray());
        Assert.Equal("hi", (await client.ReceiveMessageAsync()).Text);
        client.Dispose();
        await server.WaitForDisconnectAsync(DisconnectReason.RemoteClosed);
        // README sample end
    }

    [Fact]
    public async Task The_connection_handler_sample_echoes_and_keeps_its_connection_in_the_lobby()
    {
        var bus = new InProcessBus();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }, bus);
        // README sample: one handler per connection
        stage.MapConnections(async (FerryConnection connection, CancellationToken ct) =>
        {
            var seen = 0;                                   // this connection's state
            connection.JoinGroup("lobby");
            await foreach (var message in connection.ReadAsync(ct))   // framed messages, in order
            {
                if (++seen > 1000) { connection.Close("too chatty", "E429"); break; }
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        });   // before StartAsync; the handler returning closes the connection (after its answers are flushed)
        // README sample end
        var local = await stage.StartAsync();
        using var client = await FramedTestClient.ConnectAsync(local);
        await client.SendAsync("ping");
        Assert.Equal("ping", Encoding.UTF8.GetString(await client.ReceiveExactlyAsync(4)));
        Assert.Single(stage.GetGroupMembers("lobby"));
    }

    // Samples that bind a fixed port on every interface (the library's) or need a peer process (the bridge's) are not
    // run here; they are compiled, so that an API change breaks the build until the document quoting them follows.

    /// <summary>README.md's library sample (compiled, never called: it binds :9000 on every interface).</summary>
    private static async Task LibrarySample()
    {
        // README sample: the library
        var bus = new InProcessBus();
        await using var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Bind = ":9000",
            MaxConnections = 1000,
            IdleTimeout = TimeSpan.FromSeconds(60),
            GroupSize = 16,
        }, bus);

        // Inline handlers run on the stage's service thread: quick, no blocking, no await.
        // A payload is valid only while its handler runs: keep data with packet.Payload.ToArray()
        // (or group.Retain(), disposing the lease when done). A payload, packet, group or JsonDocument
        // kept past the handler throws ObjectDisposedException when read; it never shows other bytes.
        // Subscribers are independent: one that throws misses that group alone (an Error event, kind
        // Handler: "a packet_group subscriber failed: …"); every other handler and queue still gets it.
        bus.Topic<PacketGroup>("tcp_server/packet_group").Subscribe((group, ct) =>
        {
            foreach (var packet in group)
                Console.WriteLine($"{packet.ConnectionId} {packet.Peer}: {packet.Payload.Length} bytes");
            return ValueTask.CompletedTask;
        });

        // Or a bounded queue, read by your own loop: when it is full the stage stops reading sockets
        // (backpressure), so a queue nobody reads stalls the stage after 256 groups.
        using var queue = bus.Topic<PacketGroup>("tcp_server/packet_group").SubscribeQueue(capacity: 256);
        _ = Task.Run(async () =>
        {
            await foreach (var group in queue)   // a group is valid until the next one is read
                Console.WriteLine($"queued group of {group.Count}");
        });

        stage.Disconnected += (_, e) => Console.WriteLine($"{e.ConnectionId} closed: {e.ReasonName}");
        var local = await stage.StartAsync();          // retries the bind until it can listen
        await stage.BroadcastAsync("hello all"u8.ToArray());   // or SendAsync(id, …), SendToGroupAsync("room", …)
        // README sample end
    }

    /// <summary>docs/bridge.md's usage sample (compiled, never called: it needs a peer and a frame source).</summary>
    private static async Task BridgeSample(ILoggerFactory loggerFactory, byte[] payload, IFrameSource generator,
        Func<Frame, CancellationToken, ValueTask> Store, CancellationToken ct)
    {
        // README sample: frame bridge usage
        // The hardware side: binds PULL on 8000 (frames in) and PUSH on 8001 (frames out).
        await using var server = new FrameBridgeServer("127.0.0.1", 8000);

        // The analysis side: may start first; dials 8000 (PUSH) and 8001 (PULL), re-dials after a restart.
        await using var client = new FrameBridgeClient("127.0.0.1", 8000, new FrameBridgeOptions
        {
            SendBufferBytes = 4 << 20,                // per PUSH connection before SendAsync waits
            SendTimeout = TimeSpan.FromSeconds(5),    // default: wait forever, as Rogue does
            LoggerFactory = loggerFactory,            // default: NullLoggerFactory
        });

        await client.WaitReadyAsync(ct);              // both directions connected (or poll client.IsReady)
        await client.SendAsync(new Frame(payload, flags: Frame.ComposeFlags(firstUser: 0x01, lastUser: 0x80), channel: 3), ct);

        await foreach (Frame frame in server.ReadAllAsync(ct))
            Console.WriteLine($"{frame.Payload.Length} bytes, first-user {frame.FirstUser}, last-user {frame.LastUser}, channel {frame.Channel}");

        // Graph style, Rogue's `src >> tcp >> dst`: every end is an IFrameSource and an IFrameSink.
        Task up = generator.PipeToAsync(client, ct);                        // src >> tcp
        Task down = client.PipeToAsync((frame, ct) => Store(frame, ct), ct); // tcp >> dst (a handler)
        Task echo = server.PipeToAsync(server, ct);                         // what `ferry bridge server --echo` does
        // README sample end
    }

    /// <summary>docs/nats.md's gateway sample (compiled, never called: it binds :9000 on every interface and needs a broker).</summary>
    private static async Task NatsGatewaySample()
    {
        // README sample: nats gateway
        var bus = new InProcessBus();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "pos", Bind = ":9000", Framing = FramingSpec.Parse("u16be") }, bus);
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions
        {
            Url = "nats://127.0.0.1:4222",
            Mode = NatsDeliveryMode.JetStream,   // or Core (the default)
        });
        await gateway.StartAsync();   // connect, create streams/consumers, subscribe; before the stage starts
        await stage.StartAsync();
        // ... gateway.Counters says what happened to every message
        // README sample end
    }

    /// <summary>The README's Generic Host samples (compiled, never called: the appsettings they name bind :9000 on every interface).</summary>
    private static void GenericHostSamples(HostApplicationBuilder builder)
    {
        // README sample: generic host
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));              // appsettings.json below
        builder.Services.AddTcpServerStage("admin", o => o with { Bind = "127.0.0.1:9100", Framing = FramingSpec.Parse("lines") });
        // inject FerryStages (GetServer("front"), GetClient(…)) and IMessageBus to send and subscribe
        // README sample end

        // README sample: generic host set-up by name
        builder.Services.ConfigureTcpServerStage("front", (stage, services) =>
        {
            var log = services.GetRequiredService<ILogger<Program>>();
            stage.Connected += (_, e) => log.LogInformation("{Peer} connected", e.Peer);
            stage.MapConnections(async (connection, ct) =>
            {
                await foreach (var message in connection.ReadAsync(ct))
                    await connection.SendAsync(message.ToArray(), cancellationToken: ct);
            });
        });
        // README sample end
    }

    /// <summary>Stands for the application's own <c>Program</c> class in the host sample's <c>ILogger&lt;Program&gt;</c>.</summary>
    private sealed class Program;

    [Fact]
    public async Task The_readme_appsettings_are_taken_key_for_key_and_only_the_certificate_files_it_names_are_missing()
    {
        // Every key of README.md's appsettings.json is one AddFerry knows (an unknown or misspelled key fails the start
        // with its own problem); the only problems are the certificate and key files the sample names, which this directory does not have.
        var readme = File.ReadAllText(RepoFiles.Path("README.md")).Replace("\r\n", "\n");
        var start = readme.IndexOf("```json\n{ \"Ferry\"", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md's appsettings.json sample ('```json' then '{ \"Ferry\"')");
        start += "```json\n".Length;
        var json = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(
        [
            "configuration 'Ferry:Stages:front:Tls:Certificate:CertificateFile': Stages.front.Tls.Certificate.CertificateFile: 'server.pem' cannot be read: no such file",
            "configuration 'Ferry:Stages:front:Tls:Certificate:PrivateKeyFile': Stages.front.Tls.Certificate.PrivateKeyFile: 'server.key' cannot be read: no such file",
        ], error.Failures.Select(f => f[..(f.IndexOf("file", StringComparison.Ordinal) + "file".Length)]));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    [Theory]
    [InlineData("README.md", "test kit")]
    [InlineData("README.md", "one handler per connection")]
    [InlineData("README.md", "the library")]
    [InlineData("README.md", "generic host")]
    [InlineData("README.md", "generic host set-up by name")]
    [InlineData("docs/bridge.md", "frame bridge usage")]
    [InlineData("docs/nats.md", "nats gateway")]
    public void The_docs_quote_the_sample_that_runs_or_compiles_here(string document, string name)
    {
        var sample = Sample(name);
        var text = File.ReadAllText(RepoFiles.Path(document)).Replace("\r\n", "\n");
        Assert.True(text.Contains(sample, StringComparison.Ordinal),
            $"{document} no longer quotes the '{name}' sample of {ThisFile} as it is there; make them the same:\n{sample}");
    }

    /// <summary>The lines between a sample's markers, their common indentation removed.</summary>
    private static string Sample(string name)
    {
        var lines = File.ReadAllLines(RepoFiles.Path(ThisFile));
        var start = Array.FindIndex(lines, l => l.Trim() == $"// README sample: {name}");
        var end = Array.FindIndex(lines, start + 1, l => l.Trim() == "// README sample end");
        Assert.True(start >= 0 && end > start, $"the '{name}' sample's markers in {ThisFile}");
        var body = lines[(start + 1)..end];
        var indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())) + "\n";
    }
}
