using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Ferry.Cli.Pipeline;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>ferry run</c>'s filter of a server stage's bind give-up entry (<see cref="BindGiveUpLogFilter"/>) knows the entry by its
/// own event id, 1012, not by its wording. Before, it looked for event 1006 (every stage error) of kind Bind whose message
/// contained "(gave up after ": a change of the wording would have brought the duplicate line back unnoticed.
/// </summary>
public sealed class RunBindOnceFilterTests
{
    /// <summary>Entries as the inner factory gets them: event id and formatted text.</summary>
    private sealed class Recorder : ILoggerFactory
    {
        public ConcurrentQueue<(int Id, string Text)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Entries);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<(int, string)> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => entries.Enqueue((eventId.Id, formatter(state, exception)));
        }
    }

    /// <summary>A structured entry as the stages' source-generated logging writes one: Stage, Kind, Message.</summary>
    private static void LogStageError(ILogger logger, int id, StageErrorKind kind, string message)
    {
        IReadOnlyList<KeyValuePair<string, object?>> state =
        [
            new("Stage", "b"),
            new("Kind", kind),
            new("Message", message),
            new("{OriginalFormat}", "{Stage}: {Kind} error: {Message}"),
        ];
        logger.Log(LogLevel.Error, new EventId(id), state, null, (_, _) => $"b: {kind} error: {message}");
    }

    [Fact]
    public void The_give_up_entry_is_told_by_its_event_id_whatever_its_text()
    {
        var inner = new Recorder();
        using var filter = new BindGiveUpLogFilter(inner);
        var logger = filter.CreateLogger("Ferry.Stages.TcpServer.b");

        LogStageError(logger, 1012, StageErrorKind.Bind, "worded in any way at all");
        LogStageError(logger, 1012, StageErrorKind.Bind, "cannot listen on 127.0.0.1:9: AddressAlreadyInUse (gave up after 1 bind attempt)");
        LogStageError(logger, 1015, StageErrorKind.Setup, "giving up on 127.0.0.1:9 after 3 attempts");

        // Before: both passed (the filter looked at event 1006 only).
        Assert.Empty(inner.Entries);
    }

    [Fact]
    public void A_stage_error_of_event_1006_passes_even_with_the_old_give_up_wording()
    {
        var inner = new Recorder();
        using var filter = new BindGiveUpLogFilter(inner);
        var logger = filter.CreateLogger("Ferry.Stages.TcpServer.b");

        LogStageError(logger, 1006, StageErrorKind.Bind, "cannot listen on 127.0.0.1:9: AddressAlreadyInUse (gave up after 2 bind attempts)");
        LogStageError(logger, 1006, StageErrorKind.Bind, "cannot listen on 127.0.0.1:9: AddressAlreadyInUse; retrying in 100 ms");
        logger.LogInformation(new EventId(1001), "b: listening on 127.0.0.1:9");

        // Before: the first was left out, by its wording.
        Assert.Equal([1006, 1006, 1001], inner.Entries.Select(e => e.Id));
    }

    [Theory]
    [InlineData(StageTransport.Epoll)]
    [InlineData(StageTransport.Stream)]
    public async Task A_stage_that_gives_up_binding_logs_it_as_event_1012_worded_as_before(StageTransport transport)
    {
        using var holder = FreePorts.Taken(out var port);
        var logs = new Recorder();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "b", Bind = $"127.0.0.1:{port}", BindAttempts = 1 }.On(transport),
            loggerFactory: logs);

        await Assert.ThrowsAsync<IOException>(() => stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10)));

        var entry = Assert.Single(logs.Entries, e => e.Text.Contains("gave up", StringComparison.Ordinal));
        Assert.Equal(1012, entry.Id);
        Assert.StartsWith($"b: Bind error: cannot listen on 127.0.0.1:{port}: ", entry.Text);
        Assert.EndsWith(" (gave up after 1 bind attempt)", entry.Text);
        Assert.DoesNotContain(logs.Entries, e => e.Id == 1006);
    }
}
