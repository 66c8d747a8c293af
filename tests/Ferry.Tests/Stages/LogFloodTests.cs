using System.Collections.Concurrent;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public sealed class LogFloodTests
{
    [Fact]
    public async Task A_client_sending_garbage_gets_a_few_log_lines_and_a_count_not_one_line_per_bad_frame()
    {
        var logs = new CapturingLoggerFactory();
        var errors = new ConcurrentQueue<StageErrorEvent>();
        await using var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Framing = FramingSpec.Parse("lines,max_frame_bytes=8,on_error=skip"),
        }, loggerFactory: logs);
        stage.Error += (_, e) => errors.Enqueue(e);
        var endPoint = await stage.StartAsync();
        using var client = await FramedTestClient.ConnectAsync(endPoint);
        const int badFrames = 200;
        await client.SendAsync(string.Concat(Enumerable.Repeat("this line is far too long\n", badFrames)));

        // Every bad frame is still an event (the application may count them) ...
        await Poll.UntilAsync(() => errors.Count(e => e.Kind == StageErrorKind.Frame) == badFrames, $"{badFrames} frame error events");
        // ... but the log gets at most a burst of lines, then a count of those left out.
        var frameLines = logs.Text.Split('\n').Count(l => l.Contains("frame error", StringComparison.Ordinal));
        Assert.InRange(frameLines, 1, 10);
        Assert.DoesNotContain(logs.Text.Split('\n'), l => l.Contains("Frame error:", StringComparison.Ordinal)); // no second line per frame
    }
}

public sealed class LogRateLimiterTests
{
    [Fact]
    public void A_burst_is_written_the_rest_counted_and_the_count_reported_when_the_window_ends()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var reported = new List<(Ferry.Stages.Internal.WarningKind Kind, long Count)>();
        var limiter = new Ferry.Stages.Internal.LogRateLimiter(new Ferry.Stages.Internal.StageClock(time), (kind, count, _) => reported.Add((kind, count)));
        var written = Enumerable.Range(0, 25).Count(_ => limiter.TryWrite(Ferry.Stages.Internal.WarningKind.FrameError));
        Assert.Equal(Ferry.Stages.Internal.LogRateLimiter.Burst, written);
        Assert.True(limiter.TryWrite(Ferry.Stages.Internal.WarningKind.Rejected)); // another kind has its own budget
        limiter.Flush();
        Assert.Empty(reported);

        time.Advance(TimeSpan.FromMilliseconds(Ferry.Stages.Internal.LogRateLimiter.WindowMs));
        limiter.Flush();
        Assert.Equal([(Ferry.Stages.Internal.WarningKind.FrameError, 15L)], reported);
        Assert.True(limiter.TryWrite(Ferry.Stages.Internal.WarningKind.FrameError));
    }
}
