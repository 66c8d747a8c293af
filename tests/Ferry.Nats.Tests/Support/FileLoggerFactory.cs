using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Nats.Tests.Support;

/// <summary>With FERRY_NATS_TEST_LOG set, gateway logs (debug and up) go to that file; otherwise nowhere.</summary>
public static class TestLogging
{
    public static ILoggerFactory Factory { get; } = Environment.GetEnvironmentVariable("FERRY_NATS_TEST_LOG") is { } path
        ? LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FileProvider(path)))
        : NullLoggerFactory.Instance;

    private sealed class FileProvider(string path) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new FileLogger(path, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class FileLogger(string path, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (path)
                File.AppendAllText(path, $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}\n");
        }
    }
}
