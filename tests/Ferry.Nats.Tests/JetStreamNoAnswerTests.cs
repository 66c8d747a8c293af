using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// A server that has JetStream but does not answer a setup request (paused with SIGSTOP here, as an overloaded or stuck one
/// would be) is told apart from a server without JetStream: the start says which request went unanswered and tries each
/// such step again (4 tries, 1, 2 and 4 s apart on the gateway's clock, a fake one here). It used to be told "JetStream is
/// not enabled there", at once. The client's request timeout is real time, shortened to 1 s; the waits between tries move
/// only when a test advances the clock, once the warning that announces the wait is written.
/// </summary>
public sealed class JetStreamNoAnswerTests
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(1);

    // What any one await of a test may take, on a busy machine: no test waits this long when it passes.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private const string Retrying = "trying again in";

    [SkippableFact]
    public async Task A_request_a_paused_JetStream_server_leaves_unanswered_is_named_as_such()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats, new NatsJSOpts(nats.Opts, requestTimeout: RequestTimeout));
        using var pause = new PausedServer(server);
        await pause.PauseAsync();

        var error = await Assert.ThrowsAsync<JetStreamNoAnswerException>(() => JetStreamSetup.EnsureStreamsAsync(js, server.Url, "ferry_quiet_in", "ferry.quiet.in",
            "ferry_quiet_out", "ferry.quiet.out", CancellationToken.None).WaitAsync(Bound));

        // Old code: InvalidOperationException "the NATS server at '…' does not answer JetStream requests: JetStream is not enabled there …".
        Assert.Equal($"NATS server {server.Url} has JetStream (its INFO says so) but did not answer the JetStream request look up stream 'ferry_quiet_in' "
            + "within 1 s; it is there but busy, paused or stuck (overloaded, stopped by a signal or a debugger, its JetStream store on a slow or full disk): "
            + "look at the server's load and log (its /jsz monitoring endpoint, if enabled), then start the gateway again once it answers", error.Message);
        Assert.IsType<NatsJSApiNoResponseException>(error.InnerException);
    }

    [SkippableFact]
    public async Task The_start_asks_again_after_a_wait_and_goes_on_when_the_server_answers()
    {
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        var time = new FakeTimeProvider();
        await using var stage = NewStage("later");
        await using var gateway = NewGateway(stage, server, logs, time);
        using var pause = new PausedServer(server);
        gateway.AfterConnectForTest = pause.PauseAsync;

        var start = gateway.StartAsync();
        await RetriesSaidAsync(logs, 1, start);
        pause.Resume();
        time.Advance(TimeSpan.FromSeconds(1));
        await start.WaitAsync(Bound);

        Assert.True(gateway.Counters.Connected);
        Assert.Equal([$"Warning Ferry.Nats.Gateway.later: stage later: NATS server {server.Url} has JetStream but did not answer the JetStream request "
            + "look up stream 'ferry_later_in' within 1 s (try 1 of 4); trying again in 1 s"], Retries(logs));
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        Assert.Equal("ferry_later_in", (await js.GetStreamAsync("ferry_later_in")).Info.Config.Name);
        Assert.Equal("ferry_later_out", (await js.GetStreamAsync("ferry_later_out")).Info.Config.Name);
    }

    [SkippableFact]
    public async Task A_server_that_never_answers_fails_the_start_after_four_tries_each_retry_said()
    {
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        var time = new FakeTimeProvider();
        await using var stage = NewStage("quiet");
        await using var gateway = NewGateway(stage, server, logs, time);
        using var pause = new PausedServer(server);
        gateway.AfterConnectForTest = pause.PauseAsync;

        var start = gateway.StartAsync();
        for (var retry = 1; retry <= 3; retry++)
        {
            await RetriesSaidAsync(logs, retry, start);
            // Not a tick before the retry's line: the wait has its timer by then, and the next try has not started.
            Assert.Equal(retry, Retries(logs).Count);
            time.Advance(JetStreamStartRetry.Waits[retry - 1]);
        }
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => start.WaitAsync(Bound));

        Assert.Equal($"NATS gateway of stage 'quiet': NATS server {server.Url} has JetStream (its INFO says so) but did not answer the JetStream request "
            + "look up stream 'ferry_quiet_in' within 1 s, on any of 4 tries 1, 2 and 4 s apart; it is there but busy, paused or stuck (overloaded, "
            + "stopped by a signal or a debugger, its JetStream store on a slow or full disk): look at the server's load and log (its /jsz monitoring "
            + "endpoint, if enabled), then start the gateway again once it answers", error.Message);
        Assert.IsType<JetStreamNoAnswerException>(error.InnerException);
        var said = $"Warning Ferry.Nats.Gateway.quiet: stage quiet: NATS server {server.Url} has JetStream but did not answer the JetStream request "
            + "look up stream 'ferry_quiet_in' within 1 s";
        Assert.Equal([$"{said} (try 1 of 4); trying again in 1 s", $"{said} (try 2 of 4); trying again in 2 s", $"{said} (try 3 of 4); trying again in 4 s"],
            Retries(logs));
        Assert.False(gateway.Counters.Connected);
    }

    /// <summary>
    /// The egress consumers are a step of their own, named by their request: the server paused just before the gateway claims the
    /// stage's shared consumer, resumed after the first retry's line.
    /// </summary>
    [SkippableFact]
    public async Task An_unanswered_consumer_request_is_named_and_its_step_tried_again()
    {
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        var time = new FakeTimeProvider();
        await using var stage = NewStage("slow");
        await using var gateway = NewGateway(stage, server, logs, time);
        using var pause = new PausedServer(server);
        var claims = 0;
        gateway.BeforeClaimForTest = () => Interlocked.Increment(ref claims) == 1 ? pause.PauseAsync() : Task.CompletedTask;

        var start = gateway.StartAsync();
        await RetriesSaidAsync(logs, 1, start);
        pause.Resume();
        time.Advance(TimeSpan.FromSeconds(1));
        await start.WaitAsync(Bound);

        Assert.Equal(2, claims);
        Assert.True(gateway.Counters.Connected);
        var retry = Assert.Single(Retries(logs));
        Assert.Contains("did not answer the JetStream request check and create the shared consumer 'slow-any' of stream 'ferry_slow_out' within 1 s (try 1 of 4)", retry);
    }

    [SkippableFact]
    public async Task A_server_without_JetStream_fails_the_start_at_once_with_the_old_message()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        await using var stage = NewStage("nojs");
        // The clock never moves: a retry would wait for ever, and the bound would fail the test.
        await using var gateway = NewGateway(stage, server, logs, new FakeTimeProvider());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync().WaitAsync(Bound));

        Assert.Equal($"NATS gateway of stage 'nojs': the NATS server at '{server.Url}' does not answer JetStream requests: JetStream is not enabled there "
            + "(start nats-server with -js, or a jetstream block in its configuration), or set NatsGatewayOptions.Mode to NatsDeliveryMode.Core", error.Message);
        Assert.Empty(Retries(logs));
    }

    /// <summary>What tells the two apart is the server's INFO: one without JetStream that does not answer either is still one without JetStream.</summary>
    [SkippableFact]
    public async Task A_paused_server_without_JetStream_gets_the_old_message_without_retries()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        await using var stage = NewStage("nojs");
        await using var gateway = NewGateway(stage, server, logs, new FakeTimeProvider());
        using var pause = new PausedServer(server);
        gateway.AfterConnectForTest = pause.PauseAsync;

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync().WaitAsync(Bound));

        Assert.Contains("JetStream is not enabled there", error.Message);
        Assert.IsNotType<JetStreamNoAnswerException>(error.InnerException);
        Assert.Empty(Retries(logs));
    }

    private static TcpServerStage NewStage(string name) =>
        new(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());

    private static NatsGateway NewGateway(TcpServerStage stage, NatsServer server, ILoggerFactory logs, TimeProvider time) =>
        new(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream }, logs)
        {
            JetStreamRequestTimeoutForTest = RequestTimeout,
            SetupRetryTimeForTest = time,
        };

    private static List<string> Retries(CapturingLoggerFactory logs) => [.. logs.All.Where(line => line.Contains(Retrying, StringComparison.Ordinal))];

    /// <summary>Until the start has said its <paramref name="count"/>th retry (each comes a request timeout after the last); a start that ended first fails the wait.</summary>
    private static async Task RetriesSaidAsync(CapturingLoggerFactory logs, int count, Task start)
    {
        await Eventually.TrueAsync(() => Retries(logs).Count >= count || start.IsCompleted, Bound, () => $"{Retries(logs).Count} of {count} retries said: {logs.Text}");
        if (Retries(logs).Count < count)
            throw new InvalidOperationException($"the start ended ({start.Status}: {start.Exception?.InnerException?.Message}) after {Retries(logs).Count} of {count} retries: {logs.Text}");
    }

    /// <summary>
    /// The server stopped (SIGSTOP) from <see cref="PauseAsync"/> until <see cref="Resume"/>, and resumed on dispose whatever happened: a
    /// test that fails leaves no stopped nats-server behind (nor one that blocks the disposals after it).
    /// </summary>
    private sealed class PausedServer(NatsServer server) : IDisposable
    {
        private readonly Lock _lock = new();
        private bool _paused;

        /// <summary>Returns once the server's threads have all stopped (<see cref="NatsServer.PauseAsync"/>).</summary>
        public async Task PauseAsync()
        {
            // Marked first: a pause whose wait fails is still resumed on dispose.
            lock (_lock)
                _paused = true;
            await server.PauseAsync();
        }

        public void Resume()
        {
            lock (_lock)
            {
                if (!_paused)
                    return;
                _paused = false;
                server.Resume();
            }
        }

        public void Dispose()
        {
            try
            {
                Resume();
            }
            catch (InvalidOperationException)
            {
                // The server is not running (it never started, or died): nothing is left stopped.
            }
        }
    }
}
