using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>Plain one-line logs on stderr, so stdout stays pure JSON.</summary>
internal sealed class StderrLoggerProvider(TextWriter stderr) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new StderrLogger(stderr, categoryName);

    public void Dispose() { }

    private sealed class StderrLogger(TextWriter stderr, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel.ToString().ToLowerInvariant()[..4]} {category}: {formatter(state, exception)}";
            if (exception is not null)
                line += " | " + exception.GetType().Name + ": " + exception.Message;
            lock (stderr)
                stderr.WriteLine(line);
        }
    }
}
