using System.Net;
using System.Net.Sockets;
using Ferry.Bus;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Tests;

/// <summary>What the log says about a broker outage: once that it is lost, once that it is back.</summary>
public sealed class OutageLogTests
{
    /// <summary>
    /// The NATS client used to log every reconnect attempt (two lines of information, and a warning with a stack
    /// trace when it failed; every 0.1 to 2 s for the whole outage), and the gateway itself said nothing.
    /// </summary>
    [SkippableFact]
    public async Task A_broker_outage_is_logged_once_and_the_clients_failed_attempts_are_rate_limited()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "outage", Bind = "127.0.0.1:0" }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url }, logs);
        await gateway.StartAsync(deadline.Token);

        server.Kill();
        // A stand-in on the server's port counts the client's reconnect attempts, closing each at once.
        using (var standIn = new TcpListener(IPAddress.Loopback, server.Port))
        {
            standIn.Start();
            for (var attempts = 0; attempts < 4; attempts++)
                (await standIn.AcceptSocketAsync(deadline.Token)).Dispose();
        }
        await server.StartAsync();
        await Eventually.TrueAsync(() => logs.Text.Contains("is back after", StringComparison.Ordinal), TimeSpan.FromSeconds(30), () => logs.Text);

        Assert.True(gateway.Counters.Connected);
        Assert.Single(logs.All, line => line.StartsWith("Warning Ferry.", StringComparison.Ordinal) && line.Contains($"NATS connection to {server.Url} lost", StringComparison.Ordinal));
        var clientWarnings = logs.All.Count(line => line.StartsWith("Warning NATS.", StringComparison.Ordinal));
        Assert.True(clientWarnings <= 2, $"{clientWarnings} warnings from the NATS client for 4 failed attempts:\n{logs.Text}");
        // Connecting at start and the outage's attempts: a handful of the client's lines in all, not a few per attempt.
        var clientLines = logs.All.Count(line => line.Contains(" NATS.", StringComparison.Ordinal));
        Assert.True(clientLines <= 6, $"{clientLines} lines from the NATS client:\n{logs.Text}");
    }
}
