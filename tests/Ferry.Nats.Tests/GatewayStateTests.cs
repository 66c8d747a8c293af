using System.Collections.Concurrent;
using Ferry.Bus;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Tests;

/// <summary>
/// What the gateway's state (<see cref="NatsGateway.Counters"/>: <c>connected</c>, <c>disconnects</c>; the health check
/// and the <c>ferry.nats.connected</c> metric read it) says at the moment its log lines say something happened, as a
/// handler of those lines or a health probe would see it.
/// </summary>
public sealed class GatewayStateTests
{
    /// <summary>
    /// <c>connected</c> used to be true from the moment the client had connected, before the gateway had its streams,
    /// consumers and subscriptions, and stayed true when the start then failed: a probe of a gateway that routes nothing
    /// said it was connected.
    /// </summary>
    [SkippableFact]
    public async Task Connected_is_false_until_the_start_has_completed_and_stays_false_when_it_failed()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using (var server = await NatsServer.StartNewAsync(jetStream: false))
        {
            await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "state", Bind = "127.0.0.1:0" }, new InProcessBus());
            await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream });
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync(deadline.Token));
            Assert.Contains("does not answer JetStream requests", error.Message, StringComparison.Ordinal);
            Assert.False(gateway.Counters.Connected, "connected after a failed start");
        }

        await using (var server = await NatsServer.StartNewAsync())
        {
            await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "state", Bind = "127.0.0.1:0" }, new InProcessBus());
            var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream })
            {
                BeforeClaimForTest = () =>
                {
                    held.SetResult();
                    return release.Task;
                },
            };
            var start = gateway.StartAsync(deadline.Token);
            await held.Task.WaitAsync(deadline.Token);
            // Connected to the broker, the streams made, the shared consumer not yet claimed: not running yet.
            Assert.False(gateway.Counters.Connected, "connected while the start is under way");
            release.SetResult();
            await start;
            Assert.True(gateway.Counters.Connected);

            // Stopped: no longer connected, and a clean close is no disconnect.
            await gateway.DisposeAsync();
            Assert.False(gateway.Counters.Connected, "connected after the gateway was disposed");
            Assert.Equal(0, gateway.Counters.Disconnects);
        }
    }

    /// <summary>A handler of the outage lines reads <c>connected</c> and <c>disconnects</c> as the lines say.</summary>
    [SkippableFact]
    public async Task The_outage_lines_see_the_state_they_announce()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        NatsGateway? probed = null;
        var logs = new ProbingLoggerFactory(() => probed is { } g ? $"connected={g.Counters.Connected} disconnects={g.Counters.Disconnects}" : "");
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "state", Bind = "127.0.0.1:0" }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url }, logs);
        probed = gateway;
        await gateway.StartAsync(deadline.Token);

        server.Kill();
        await Eventually.TrueAsync(() => logs.Lines.Any(l => l.Contains(" lost;", StringComparison.Ordinal)), TimeSpan.FromSeconds(20), () => string.Join('\n', logs.Lines));
        await server.StartAsync();
        await Eventually.TrueAsync(() => logs.Lines.Any(l => l.Contains("is back after", StringComparison.Ordinal)), TimeSpan.FromSeconds(30), () => string.Join('\n', logs.Lines));

        Assert.EndsWith("[connected=False disconnects=1]", Assert.Single(logs.Lines, l => l.Contains(" lost;", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.EndsWith("[connected=True disconnects=1]", Assert.Single(logs.Lines, l => l.Contains("is back after", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    /// <summary>Each line of the gateway's own logger, with what <c>probe</c> said at the moment it was logged.</summary>
    private sealed class ProbingLoggerFactory(Func<string> probe) : ILoggerFactory
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ProbingLoggerFactory owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && category.StartsWith("Ferry.", StringComparison.Ordinal);

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                    owner.Lines.Enqueue($"{logLevel} {formatter(state, exception)} [{owner.Probe()}]");
            }
        }

        private string Probe() => probe();
    }
}
