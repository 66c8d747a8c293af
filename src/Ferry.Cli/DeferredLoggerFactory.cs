using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// A logger factory that builds the real one (the console provider, its options, formatters and its queue
/// thread) only when the first entry at or above the minimum level is written. An idle server that logs
/// nothing (the default level is Warning) never builds it, which keeps that code and its thread out of the
/// process's resident memory and off the start-up path; the first warning pays the build once.
/// </summary>
/// <remarks>
/// The first warning may come at the worst moment (descriptors or memory exhausted), on the stage's service
/// thread. So the build never throws into the caller: when it fails, that entry and every later one are
/// written plainly to <c>fallback</c> (<see cref="PlainLogWriter"/>), with one line saying why, and the build
/// is not tried again. <see cref="CliLogging"/> also loads the assemblies the build needs at start, so that it
/// opens no file when it runs.
/// </remarks>
internal sealed class DeferredLoggerFactory(LogLevel minimum, Func<ILoggerFactory> create, TextWriter? fallback = null) : ILoggerFactory
{
    private readonly Lock _gate = new();
    private readonly PlainLogWriter _plain = new(fallback ?? Console.Error);
    private ILoggerFactory? _factory;
    private bool _failed;

    /// <summary>Whether the real factory has been built (a first entry was written).</summary>
    public bool IsBuilt => Volatile.Read(ref _factory) is not null;

    /// <summary>Whether building the real factory failed, so entries are written plainly.</summary>
    public bool BuildFailed
    {
        get
        {
            lock (_gate)
                return _failed;
        }
    }

    public ILogger CreateLogger(string categoryName) => new DeferredLogger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => Factory()?.AddProvider(provider);

    /// <summary>Disposes the real factory if it was built, which flushes the console provider's queue.</summary>
    public void Dispose() => Volatile.Read(ref _factory)?.Dispose();

    private bool IsEnabled(LogLevel level) => level >= minimum && level != LogLevel.None;

    /// <summary>The real factory, built once by the first caller; null when it could not be built.</summary>
    private ILoggerFactory? Factory()
    {
        if (Volatile.Read(ref _factory) is { } built)
            return built;
        lock (_gate)
        {
            if (_factory is null && !_failed)
            {
                try
                {
                    Volatile.Write(ref _factory, create());
                }
                catch (Exception ex)
                {
                    // Whatever the build throws (a file it cannot open, memory), logging must not take the caller down.
                    _failed = true;
                    _plain.NoteBuildFailed(ex);
                }
            }
            return _factory;
        }
    }

    /// <summary>The real logger of a category, or null when there is none to be had.</summary>
    private ILogger? CreateInner(string category)
    {
        if (Factory() is not { } factory)
            return null;
        try
        {
            return factory.CreateLogger(category);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Answers IsEnabled from the minimum level alone; the real logger is made on its first entry.</summary>
    private sealed class DeferredLogger(DeferredLoggerFactory owner, string category) : ILogger
    {
        private ILogger? _inner;

        // Neither console formatter is configured to include scopes, so a scope begun before the first entry
        // changes no output; once the real logger exists, scopes go to it.
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => _inner?.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => owner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!owner.IsEnabled(logLevel))
                return;
            if ((_inner ??= owner.CreateInner(category)) is { } inner)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }
            string message;
            try
            {
                message = formatter(state, exception);
            }
            catch (Exception ex)
            {
                message = $"(the entry's message could not be formatted: {ex.Message})";
            }
            owner._plain.Write(logLevel, category, eventId, message, exception);
        }
    }
}
