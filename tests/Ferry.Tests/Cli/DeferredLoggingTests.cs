using Ferry.Cli;
using Ferry.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Tests.Cli;

/// <summary>
/// The commands' logger factory is built on the first entry that passes the level (issue 13: an idle server
/// that logs nothing keeps the console provider, its options and its queue thread out of memory).
/// </summary>
public sealed class DeferredLoggingTests
{
    [Fact]
    public void Entries_below_the_level_build_nothing_and_the_first_warning_builds_and_writes()
    {
        var stderr = new LineWriter();
        using var factory = CliLogging.Create(LogLevel.Warning, LogFormat.Plain, stderr);
        var deferred = Assert.IsType<DeferredLoggerFactory>(factory);
        var logger = factory.CreateLogger("Ferry.Stage");

        Assert.False(logger.IsEnabled(LogLevel.Information));
        Assert.True(logger.IsEnabled(LogLevel.Warning));
        logger.LogInformation("not shown");
        logger.LogDebug("not shown either");
        Assert.False(deferred.IsBuilt);
        Assert.Empty(stderr.Lines);

        logger.LogWarning("bind failed on {Port}", 9000);
        Assert.True(deferred.IsBuilt);
        var line = Assert.Single(stderr.Lines);
        Assert.Contains("warn: Ferry.Stage[0] bind failed on 9000", line);
    }

    [Fact]
    public void Json_format_is_kept_through_the_deferred_factory()
    {
        var stderr = new LineWriter();
        using var factory = CliLogging.Create(LogLevel.Debug, LogFormat.Json, stderr);
        factory.CreateLogger("Ferry.Stage").LogDebug("accepted {Count}", 3);
        var entry = Assert.Single(stderr.Json);
        Assert.Equal("Debug", entry.GetProperty("LogLevel").GetString());
        Assert.Equal("accepted 3", entry.GetProperty("Message").GetString());
    }

    [Fact]
    public void Level_none_never_builds_and_disposing_an_unbuilt_factory_builds_nothing()
    {
        var builds = 0;
        var factory = new DeferredLoggerFactory(LogLevel.None, () => { builds++; return NullLoggerFactory.Instance; });
        var logger = factory.CreateLogger("x");
        logger.LogCritical("dropped");
        Assert.False(logger.IsEnabled(LogLevel.Critical));
        Assert.Null(logger.BeginScope("scope"));
        factory.Dispose();
        Assert.Equal(0, builds);
        Assert.False(factory.IsBuilt);
    }

    [Fact]
    public async Task First_entries_racing_on_many_threads_build_the_factory_once_and_lose_none()
    {
        var builds = 0;
        var stderr = new LineWriter();
        using var factory = new DeferredLoggerFactory(LogLevel.Warning, () =>
        {
            Interlocked.Increment(ref builds);
            return CliLogging.Create(LogLevel.Warning, LogFormat.Plain, stderr);
        });
        var loggers = Enumerable.Range(0, 8).Select(i => factory.CreateLogger($"c{i}")).ToArray();
        using var go = new ManualResetEventSlim();
        var writers = loggers.Select(l => Task.Run(() =>
        {
            go.Wait(TimeSpan.FromSeconds(30));
            l.LogError("boom");
        })).ToArray();
        go.Set();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, builds);
        Assert.Equal(8, stderr.Lines.Count);
    }
}
