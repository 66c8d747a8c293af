using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The logger factory <c>ferry run</c> gives its server stages: it leaves out a stage's own log entry of the bind it gave up on
/// (event 1006, kind Bind, "cannot listen on … (gave up after N bind attempts)"). <c>ferry run</c> says that failure itself on
/// stderr, once, with the stage's name and what it does next ("… stopping what had started"); the log entry said it a second
/// time. Every other entry passes, the bind retries' too (they are not followed by a line of run's).
/// </summary>
internal sealed class BindGiveUpLogFilter(ILoggerFactory inner) : ILoggerFactory
{
    private const int StageErrorEvent = 1006;

    public ILogger CreateLogger(string categoryName) => new Filtered(inner.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    /// <summary>The inner factory is the command's: it disposes of it.</summary>
    public void Dispose()
    {
    }

    private static bool IsBindGiveUp<TState>(EventId eventId, TState state)
    {
        if (eventId.Id != StageErrorEvent || state is not IReadOnlyList<KeyValuePair<string, object?>> values)
            return false;
        var bind = false;
        var gaveUp = false;
        foreach (var (key, value) in values)
        {
            if (key == "Kind")
                bind = value is StageErrorKind.Bind;
            else if (key == "Message")
                gaveUp = value is string message && message.Contains("(gave up after ", StringComparison.Ordinal);
        }
        return bind && gaveUp;
    }

    private sealed class Filtered(ILogger logger) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => logger.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logger.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsBindGiveUp(eventId, state))
                logger.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
