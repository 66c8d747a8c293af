using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// The logger factory the NATS client gets: its lines of information and above are written at most once per
/// minute per category, event id and level, then one line counts those left out (debug and trace pass as they
/// are); an exception is told by its messages on the line, its stack trace only at debug level. The client logs every reconnect attempt (two lines of information, and a warning with a stack trace
/// when it fails), every 0.1 to 2 s for as long as the server is away: an hour's outage would be thousands
/// of lines. The gateway says itself when the connection is lost and when it is back.
/// </summary>
internal sealed class ClientLogLimiter(ILoggerFactory inner, TimeProvider time) : ILoggerFactory
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    public ILogger CreateLogger(string categoryName) => new Limited(inner.CreateLogger(categoryName), time);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The inner factory belongs to the caller.
    }

    private sealed class Limited(ILogger inner, TimeProvider time) : ILogger
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<(int EventId, LogLevel Level), (long Since, long Left)> _windows = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel < LogLevel.Information || !inner.IsEnabled(logLevel))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }
            long left;
            lock (_lock)
            {
                var now = time.GetTimestamp();
                var key = (eventId.Id, logLevel);
                if (_windows.TryGetValue(key, out var window) && time.GetElapsedTime(window.Since, now) < Window)
                {
                    _windows[key] = (window.Since, window.Left + 1);
                    return;
                }
                left = window.Left;
                _windows[key] = (now, 0);
            }
            if (left > 0)
                inner.Log(logLevel, eventId, "{Count} more lines of event {EventId} at this level were not logged in the last minute", left, eventId.Id);
            if (exception is null)
            {
                inner.Log(logLevel, eventId, state, null, formatter);
                return;
            }
            // The client's failure lines carry the exception, and a console logger prints its whole stack trace: dozens of
            // lines inside the client (and, for a failed first connect, after the gateway's own one-line error) that tell an
            // operator nothing the exception's messages do not. The line keeps the messages; the trace is at debug level.
            inner.Log(logLevel, eventId, state, null, (s, _) => $"{formatter(s, exception)} ({Describe(exception)})");
            if (inner.IsEnabled(LogLevel.Debug))
                inner.Log(LogLevel.Debug, eventId, state, exception, formatter);
        }

        /// <summary>The exception's type and message, and those of up to two inner exceptions (the cause, e.g. the socket's error).</summary>
        private static string Describe(Exception exception)
        {
            var text = $"{exception.GetType().Name}: {exception.Message}";
            var inner = exception.InnerException;
            for (var depth = 0; inner is not null && depth < 2; depth++, inner = inner.InnerException)
                text += $" <- {inner.GetType().Name}: {inner.Message}";
            return text;
        }
    }
}
