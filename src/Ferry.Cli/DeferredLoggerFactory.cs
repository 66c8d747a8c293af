using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// A logger factory that builds the real one (the console provider, its options, formatters and its queue
/// thread) only when the first entry at or above the minimum level is written. An idle server that logs
/// nothing (the default level is Warning) never builds it, which keeps that code and its thread out of the
/// process's resident memory and off the start-up path; the first warning pays the build once.
/// </summary>
internal sealed class DeferredLoggerFactory(LogLevel minimum, Func<ILoggerFactory> create) : ILoggerFactory
{
    private readonly Lazy<ILoggerFactory> _factory = new(create, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Whether the real factory has been built (a first entry was written).</summary>
    public bool IsBuilt => _factory.IsValueCreated;

    public ILogger CreateLogger(string categoryName) => new DeferredLogger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => _factory.Value.AddProvider(provider);

    /// <summary>Disposes the real factory if it was built, which flushes the console provider's queue.</summary>
    public void Dispose()
    {
        if (_factory.IsValueCreated)
            _factory.Value.Dispose();
    }

    private bool IsEnabled(LogLevel level) => level >= minimum && level != LogLevel.None;

    /// <summary>Answers IsEnabled from the minimum level alone; the real logger is made on its first entry.</summary>
    private sealed class DeferredLogger(DeferredLoggerFactory owner, string category) : ILogger
    {
        private ILogger? _inner;

        private ILogger Inner => _inner ??= owner._factory.Value.CreateLogger(category);

        // Neither console formatter is configured to include scopes, so a scope begun before the first entry
        // changes no output; once the real logger exists, scopes go to it.
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => _inner?.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => owner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (owner.IsEnabled(logLevel))
                Inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
