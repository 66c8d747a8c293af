using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Ferry.Cli;

/// <summary>
/// Logging for the commands: Microsoft.Extensions.Logging's console provider on the process's stderr
/// (plain single lines or JSON). When a command runs embedded with another writer (tests, hosts), the
/// same console formatter writes to that writer instead, so the lines look the same.
/// </summary>
internal static class CliLogging
{
    /// <summary>
    /// The factory for a command; the console provider behind it is built on the first entry at or above
    /// <paramref name="level"/> (<see cref="DeferredLoggerFactory"/>), so a command that logs nothing never builds it.
    /// The assemblies the build needs are loaded now: the first entry may come when no file can be opened.
    /// </summary>
    public static ILoggerFactory Create(LogLevel level, LogFormat format, TextWriter stderr)
    {
        LoadBuildAssemblies(format);
        // The formatter writes JSON itself: to the stream under the command's JSON lines (JsonStderrWriter), not through them,
        // which would wrap each entry again (and hide Console.Error, whose console provider the process uses).
        var logs = stderr is JsonStderrWriter json ? json.Inner : stderr;
        return new DeferredLoggerFactory(level, () => Build(level, format, logs), stderr);
    }

    /// <summary>
    /// Loads (maps) the assemblies <see cref="Build"/> uses without running any of their code: a type
    /// reference loads its assembly, builds nothing, and costs a few pages; a process out of descriptors
    /// could not open their files later (hostile-net review 1: the first warning at descriptor exhaustion
    /// failed to load Microsoft.Extensions.Logging.Console.dll). The list is what building the provider loads
    /// (compared by <c>DeferredLoggingTests</c>, which fails when a new dependency is missing here).
    /// In the native binary the assemblies are compiled in, so there is nothing to load, and asking a type for
    /// its assembly there is not free: it builds reflection's assembly and type objects from the metadata
    /// (about 0.7 % of a start's CPU in <c>perf</c>, session 19), so the native binary skips it.
    /// </summary>
    private static void LoadBuildAssemblies(LogFormat format)
    {
        if (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported)
            return;
        ReadOnlySpan<Type> types =
        [
            typeof(ConsoleLoggerProvider),                                              // Logging.Console
            typeof(LoggerFactory),                                                      // Logging
            typeof(Microsoft.Extensions.Logging.Configuration.ILoggerProviderConfigurationFactory), // Logging.Configuration
            typeof(ServiceProvider),                                                    // DependencyInjection
            typeof(IServiceCollection),                                                 // DependencyInjection.Abstractions
            typeof(Microsoft.Extensions.Options.IOptionsMonitor<>),                     // Options
            typeof(Microsoft.Extensions.Options.ConfigurationChangeTokenSource<>),       // Options.ConfigurationExtensions
            typeof(Microsoft.Extensions.Configuration.IConfiguration),                  // Configuration.Abstractions
            typeof(Microsoft.Extensions.Configuration.ConfigurationBuilder),            // Configuration
            typeof(Microsoft.Extensions.Primitives.IChangeToken),                       // Primitives
        ];
        foreach (var type in types)
            GC.KeepAlive(type.Assembly);
        if (format == LogFormat.Json)
            GC.KeepAlive(typeof(System.IO.Pipelines.PipeWriter).Assembly); // the JSON formatter's writer
    }

    private static ILoggerFactory Build(LogLevel level, LogFormat format, TextWriter stderr)
    {
        if (ReferenceEquals(stderr, Console.Error))
            return LoggerFactory.Create(b => Configure(b.SetMinimumLevel(level), format).AddConsole(o =>
            {
                o.FormatterName = FormatterName(format);
                o.LogToStandardErrorThreshold = LogLevel.Trace;
            }));

        var services = new ServiceCollection().AddLogging(b => Configure(b, format).AddConsole()).BuildServiceProvider();
        var formatter = services.GetServices<ConsoleFormatter>().First(f => f.Name == FormatterName(format));
        return new WriterLoggerFactory(services, new FormatterLoggerProvider(formatter, stderr), level);
    }

    private static ILoggingBuilder Configure(ILoggingBuilder builder, LogFormat format) => format == LogFormat.Json
        ? builder.AddJsonConsole(o =>
        {
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
        })
        : builder.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });

    private static string FormatterName(LogFormat format) => format == LogFormat.Json ? ConsoleFormatterNames.Json : ConsoleFormatterNames.Simple;

    /// <summary>A logger factory with one provider and a minimum level, owning the service provider of its formatter.</summary>
    private sealed class WriterLoggerFactory(ServiceProvider services, ILoggerProvider provider, LogLevel level) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => level == LogLevel.None ? NullLogger.Instance : new LevelLogger(provider.CreateLogger(categoryName), level);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
            provider.Dispose();
            services.Dispose();
        }
    }

    private sealed class LevelLogger(ILogger inner, LogLevel level) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= level && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
