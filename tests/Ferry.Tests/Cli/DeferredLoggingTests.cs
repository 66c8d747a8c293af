using System.Diagnostics;
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

    [Fact]
    public void A_logger_that_cannot_be_built_writes_entries_plainly_and_never_throws()
    {
        // What the JIT build met at descriptor exhaustion (hostile-net review 1): the first warning built the
        // console logger, whose assembly could not be opened, and the exception escaped on the service thread.
        var builds = 0;
        var stderr = new LineWriter();
        using var factory = new DeferredLoggerFactory(LogLevel.Warning, () =>
        {
            builds++;
            throw new FileNotFoundException("Could not load file or assembly 'Microsoft.Extensions.Logging.Console'");
        }, stderr);
        var logger = factory.CreateLogger("Ferry.Stage");

        logger.LogWarning("accept failed: {Error}", "EMFILE");
        logger.LogError(new InvalidOperationException("loop broke"), "stage {Name} failed", "front");
        factory.CreateLogger("Ferry.Other").LogCritical("still written");
        logger.LogInformation("below the level");

        Assert.True(factory.BuildFailed);
        Assert.False(factory.IsBuilt);
        Assert.Equal(1, builds); // not tried again for every entry
        var lines = stderr.Lines.ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Contains("the console logger could not be built (FileNotFoundException: Could not load file or assembly 'Microsoft.Extensions.Logging.Console')", lines[0]);
        Assert.Contains("warn: Ferry.Stage[0] accept failed: EMFILE", lines[1]);
        Assert.Contains("fail: Ferry.Stage[0] stage front failed System.InvalidOperationException: loop broke", lines[2]);
        Assert.Contains("crit: Ferry.Other[0] still written", lines[3]);
    }

    [Fact]
    public void When_the_fallback_writer_fails_too_the_entry_is_lost_and_the_caller_goes_on()
    {
        using var factory = new DeferredLoggerFactory(LogLevel.Warning, () => throw new OutOfMemoryException(), new BrokenWriter());
        var logger = factory.CreateLogger("Ferry.Stage");
        logger.LogWarning("nowhere to go");
        logger.LogError("nor this");
        Assert.True(factory.BuildFailed);
    }

    [Fact]
    public async Task The_assemblies_the_console_logger_needs_are_loaded_at_start_without_building_it()
    {
        // JIT build only (the native binary has no assembly files): whatever a process that built the logger and
        // logged has mapped, an idle one (nothing logged, logger not built) must have mapped too, so that building
        // it later opens no file. Fails when CliLogging's list misses a dependency.
        var idle = await MappedAssembliesAsync(["--quiet"], waitForLog: false);
        foreach (var format in new[] { "plain", "json" })
        {
            var logging = await MappedAssembliesAsync(["--quiet", "--log-level", "trace", "--log-format", format], waitForLog: true);
            var idleOfFormat = format == "plain" ? idle : await MappedAssembliesAsync(["--quiet", "--log-format", format], waitForLog: false);
            Assert.Contains("Microsoft.Extensions.Logging.Console.dll", logging);
            Assert.Empty(logging.Except(idleOfFormat));
        }
    }

    /// <summary>Starts <c>dotnet Ferry.Cli.dll serve</c>, waits until it listens (and has logged), and lists the assembly files it has mapped.</summary>
    private static async Task<string[]> MappedAssembliesAsync(string[] flags, bool waitForLog)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { typeof(FerryCommand).Assembly.Location, "serve", "--bind", "127.0.0.1:0" }.Concat(flags))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var line = await CliBinary.ReadUntilListeningAsync(process, timeout.Token);
            Assert.NotNull(line);
            if (waitForLog)
                Assert.NotNull(await process.StandardError.ReadLineAsync(timeout.Token));
            var maps = await File.ReadAllLinesAsync($"/proc/{process.Id}/maps", timeout.Token);
            return maps.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length >= 6 && f[5].EndsWith(".dll", StringComparison.Ordinal))
                .Select(f => Path.GetFileName(f[5])).Distinct().Order().ToArray();
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
    }

    private sealed class BrokenWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value) => throw new IOException("stderr is gone");

        public override void Write(string? value) => throw new IOException("stderr is gone");

        public override void WriteLine(string? value) => throw new IOException("stderr is gone");
    }
}
