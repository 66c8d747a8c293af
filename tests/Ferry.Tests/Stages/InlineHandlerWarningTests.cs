using System.Collections.Concurrent;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>An inline packet_group handler that awaits stalls the whole stage: it is detected and reported (issue 14).</summary>
public sealed class InlineHandlerWarningTests
{
    [Fact]
    public async Task An_inline_handler_that_awaits_is_reported_once_per_burst_not_per_message()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 1 }, recordPackets: false);
        var handled = 0;
        using var subscription = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            await Task.Yield(); // the mistake: an await in an inline handler
            Interlocked.Increment(ref handled);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        for (var i = 0; i < 30; i++)
        {
            await client.SendAsync("m");
            var expected = i + 1;
            await Poll.UntilAsync(() => Volatile.Read(ref handled) == expected, $"message {expected} handled");
        }
        var warnings = h.Events.OfType<StageErrorEvent>().Where(e => e.Kind == StageErrorKind.Handler).ToList();
        Assert.NotEmpty(warnings);
        // Rate-limited: a burst of ten per window, not one per message.
        Assert.InRange(warnings.Count, 1, 10);
        Assert.Contains("did not complete synchronously", warnings[0].Message);
        Assert.Contains("MapConnections", warnings[0].Message);
        Assert.Contains(nameof(InlineHandlerWarningTests), warnings[0].Message); // names the handler
    }

    [Fact]
    public async Task A_handler_marked_as_deliberate_backpressure_may_wait_without_a_warning()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 1 }, recordPackets: false);
        var handled = 0;
        using var subscription = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe([Ferry.Bus.BackpressureHandler] async (group, ct) =>
        {
            await Task.Yield(); // e.g. waiting for a sink that must not be outrun
            Interlocked.Increment(ref handled);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync("m");
        await Poll.UntilAsync(() => Volatile.Read(ref handled) == 1, "the message handled");
        Assert.DoesNotContain(h.Events, e => e is StageErrorEvent { Kind: StageErrorKind.Handler });
    }

    [Fact]
    public async Task A_synchronous_inline_handler_is_not_reported()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 1 }, recordPackets: true);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync("m");
        await h.WaitForPacketsAsync(p => p.Count == 1, "the packet");
        Assert.DoesNotContain(h.Events, e => e is StageErrorEvent { Kind: StageErrorKind.Handler });
    }
}
