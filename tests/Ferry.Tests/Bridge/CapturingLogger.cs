using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Bridge;

/// <summary>
/// Collects log lines ("LEVEL CATEGORY: MESSAGE", with the time in front unless asked not to) so a test can count
/// them or show what the stage saw. Ferry.Nats.Tests compiles this file too.
/// </summary>
internal sealed class CapturingLoggerFactory(LogLevel minimum = LogLevel.Trace, bool timestamps = true) : ILoggerFactory
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> All => [.. _lines];

    public string Text => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum, timestamps, _lines);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string category, LogLevel minimum, bool timestamps, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var line = $"{logLevel} {category}: {formatter(state, exception)}";
            lines.Enqueue(timestamps ? $"{DateTime.UtcNow:HH:mm:ss.fff} {line}" : line);
        }
    }
}
