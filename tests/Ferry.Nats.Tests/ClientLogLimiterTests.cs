using System.Collections.Concurrent;
using System.Net.Sockets;
using Ferry.Nats.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Nats.Tests;

/// <summary>
/// The NATS client's own log lines, as the gateway passes them on: a failure is one line with the exception's messages;
/// its stack trace (dozens of lines inside the client) only at debug level.
/// </summary>
public sealed class ClientLogLimiterTests
{
    private sealed class Recorder(LogLevel minimum) : ILoggerFactory, ILogger
    {
        public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                Lines.Enqueue((logLevel, formatter(state, exception), exception));
        }
    }

    private static Exception ConnectFailure()
    {
        try
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }
        catch (SocketException refused)
        {
            return new InvalidOperationException("can not connect uris: nats://127.0.0.1:4299", refused);
        }
    }

    [Fact]
    public void A_failure_is_one_line_with_its_messages_and_no_stack_trace_at_information()
    {
        var recorder = new Recorder(LogLevel.Information);
        var logger = new ClientLogLimiter(recorder, new FakeTimeProvider()).CreateLogger("NATS.Client.Core.NatsConnection");

        logger.LogError(1001, ConnectFailure(), "Fail to connect NATS {Url}", "nats://127.0.0.1:4299");

        // Before: the line carried the exception, which a console logger prints with its whole stack trace.
        var line = Assert.Single(recorder.Lines);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Null(line.Exception);
        Assert.Equal("Fail to connect NATS nats://127.0.0.1:4299 (InvalidOperationException: can not connect uris: nats://127.0.0.1:4299 "
            + $"<- SocketException: {new SocketException((int)SocketError.ConnectionRefused).Message})", line.Message);
    }

    [Fact]
    public void At_debug_level_the_whole_exception_follows_the_line()
    {
        var recorder = new Recorder(LogLevel.Debug);
        var logger = new ClientLogLimiter(recorder, new FakeTimeProvider()).CreateLogger("NATS.Client.Core.NatsConnection");
        var failure = ConnectFailure();

        logger.LogWarning(1002, failure, "Reconnect failed");

        Assert.Collection(recorder.Lines,
            first => Assert.Equal((LogLevel.Warning, (Exception?)null), (first.Level, first.Exception)),
            second => Assert.Equal((LogLevel.Debug, "Reconnect failed", (Exception?)failure), (second.Level, second.Message, second.Exception)));
    }

    [Fact]
    public void Lines_without_an_exception_pass_as_they_are_and_repeats_are_limited()
    {
        var time = new FakeTimeProvider();
        var recorder = new Recorder(LogLevel.Information);
        var logger = new ClientLogLimiter(recorder, time).CreateLogger("NATS.Client.Core.NatsConnection");

        logger.LogInformation(7, "Try to connect NATS {Url}", "nats://127.0.0.1:4299");
        logger.LogInformation(7, "Try to connect NATS {Url}", "nats://127.0.0.1:4299");
        time.Advance(ClientLogLimiter.Window);
        logger.LogInformation(7, "Try to connect NATS {Url}", "nats://127.0.0.1:4299");

        Assert.Equal(
            ["Try to connect NATS nats://127.0.0.1:4299", "1 more lines of event 7 at this level were not logged in the last minute", "Try to connect NATS nats://127.0.0.1:4299"],
            recorder.Lines.Select(l => l.Message));
    }
}
