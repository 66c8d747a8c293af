using System.Net;
using System.Net.Sockets;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Ferry.Nats.Tests;

/// <summary>
/// Egress the NATS client drops in core mode (a subscription's queue of max_pending_egress is full) is said once per
/// streak: a warning at the first drop, a summary when the drops stop. It was counted in client_dropped and never logged.
/// </summary>
public sealed class EgressDropLogTests
{
    [SkippableFact]
    public async Task Egress_the_client_drops_is_warned_about_once_and_summed_up_when_the_drops_stop()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        // A connection that never reads, on a stage that holds egress until there is room: routing stops, and the
        // client's queue of one message fills.
        await using var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = "drops", Bind = "127.0.0.1:0", Framing = RawFraming.Default, EgressBufferBytes = 64 * 1024,
            EgressOverflow = EgressOverflowPolicy.Wait, EgressWaitTimeout = TimeSpan.FromMinutes(5),
        }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, MaxPendingEgress = 1 }, logs);
        await gateway.StartAsync(deadline.Token);
        var connected = new TaskCompletionSource<ConnectionId>(TaskCreationOptions.RunContinuationsAsynchronously);
        stage.Connected += (_, e) => connected.TrySetResult(e.ConnectionId);
        await stage.StartAsync(deadline.Token);
        using var reader = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await reader.ConnectAsync(new IPEndPoint(IPAddress.Loopback, stage.LocalEndPoint!.Port), deadline.Token);
        var id = await connected.Task.WaitAsync(deadline.Token);

        await using (var nats = await Observer.ConnectAsync(server))
        {
            var headers = new NatsHeaders { [NatsHeaderNames.ConnectionId] = id.ToString() };
            var payload = new byte[64 * 1024];
            for (var i = 0; i < 200; i++)
                await nats.PublishAsync(gateway.InstanceEgressSubject, payload, headers, cancellationToken: deadline.Token);
            await nats.PingAsync(deadline.Token);
        }

        static bool Started(string line) => line.StartsWith("Warning Ferry.", StringComparison.Ordinal) && line.Contains("is dropping messages on", StringComparison.Ordinal);
        static bool Ended(string line) => line.StartsWith("Warning Ferry.", StringComparison.Ordinal) && line.Contains("stopped dropping messages", StringComparison.Ordinal);
        await Eventually.TrueAsync(() => gateway.Counters.ClientDropped > 0 && logs.All.Any(Started), TimeSpan.FromSeconds(30),
            () => $"{gateway.Counters}\n{logs.Text}");
        Assert.Contains(gateway.InstanceEgressSubject, logs.All.Single(Started), StringComparison.Ordinal);
        Assert.Contains("NatsGatewayOptions.MaxPendingEgress) is full", logs.All.Single(Started), StringComparison.Ordinal);
        Assert.Contains("dropped messages are lost", logs.All.Single(Started), StringComparison.Ordinal);

        // Nothing more is published: the streak ends after its quiet time, summed up in one line.
        await Eventually.TrueAsync(() => logs.All.Any(Ended), TimeSpan.FromSeconds(40), () => $"{gateway.Counters}\n{logs.Text}");
        var dropped = gateway.Counters.ClientDropped;
        Assert.InRange(dropped, 1, 199);
        var summary = logs.All.Single(Ended);
        Assert.Contains($"{dropped} messages dropped", summary, StringComparison.Ordinal);
        Assert.Contains($"{gateway.InstanceEgressSubject} ({dropped})", summary, StringComparison.Ordinal);
        Assert.Single(logs.All, Started);
    }

    /// <summary>
    /// The control subject is core NATS in both modes: in JetStream mode the warning said its dropped commands were "not
    /// acknowledged, so sent again after the ack wait" (the egress consumers' fate), and blamed connections that do not read.
    /// </summary>
    [SkippableFact]
    public async Task Control_commands_the_client_drops_in_jetstream_mode_are_said_to_be_lost()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "ctrldrops", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, MaxPendingEgress = 1 }, logs);
        await gateway.StartAsync(deadline.Token);
        await using (var nats = await Observer.ConnectAsync(server))
        {
            var command = "{\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"00000001-1\"}}"u8.ToArray();
            for (var i = 0; i < 5_000; i++)
                await nats.PublishAsync(gateway.ControlSubject, command, cancellationToken: deadline.Token);
            await nats.PingAsync(deadline.Token);
        }

        static bool Started(string line) => line.StartsWith("Warning Ferry.", StringComparison.Ordinal) && line.Contains("is dropping messages on", StringComparison.Ordinal);
        await Eventually.TrueAsync(() => gateway.Counters.ClientDropped > 0 && logs.All.Any(Started), TimeSpan.FromSeconds(30),
            () => $"{gateway.Counters}\n{logs.Text}");
        var warning = logs.All.Single(Started);
        Assert.Contains($"dropping messages on {gateway.ControlSubject}:", warning, StringComparison.Ordinal);
        Assert.Contains("(a storm of control commands); dropped messages are lost (control commands are core NATS in both modes)", warning, StringComparison.Ordinal);
    }
}
