using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Ferry.Cli;

/// <summary>Writes entries through one of the console provider's formatters to any <see cref="TextWriter"/>, one entry at a time.</summary>
internal sealed class FormatterLoggerProvider(ConsoleFormatter formatter, TextWriter writer) : ILoggerProvider
{
    private readonly Lock _gate = new();

    private void Write<TState>(in LogEntry<TState> entry)
    {
        var line = new StringWriter();
        formatter.Write(entry, null, line);
        lock (_gate)
        {
            writer.Write(line.ToString());
            writer.Flush();
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(FormatterLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            owner.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter));
        }
    }
}
