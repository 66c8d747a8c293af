using Ferry.Stages.Internal;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The logger factory <c>ferry run</c> gives its stages: it leaves out a stage's own log entry of the bind it gave up on
/// (event <see cref="Log.BindGaveUpId"/>, "cannot listen on … (gave up after N bind attempts)") and of the connecting a client
/// stage gave up (event <see cref="Log.ConnectGaveUpId"/>, "giving up on … after N attempts"), told by their event ids alone,
/// whatever their wording. <c>ferry run</c> says those failures itself on stderr, once, with the stage's name and what it does
/// next ("… stopping"); the log entry said it a second time. Every other entry passes, the bind retries' and the failed connects'
/// too (they are not followed by a line of run's).
/// </summary>
internal sealed class BindGiveUpLogFilter(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Filtered(inner.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    /// <summary>The inner factory is the command's: it disposes of it.</summary>
    public void Dispose()
    {
    }

    private static bool IsGiveUp(EventId eventId) => eventId.Id is Log.BindGaveUpId or Log.ConnectGaveUpId;

    private sealed class Filtered(ILogger logger) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => logger.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logger.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsGiveUp(eventId))
                logger.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
