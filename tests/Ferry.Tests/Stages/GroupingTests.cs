using Ferry.Transport;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class GroupingTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : GroupingTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : GroupingTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Packets_from_several_clients_are_grouped_by_group_size()
    {
        await using var h = new StageHarness(new TcpServerStageOptions { GroupSize = 3, GroupLinger = TimeSpan.FromSeconds(30) }.On(Transport));
        await h.StartAsync();
        var clients = new List<TestClient>();
        for (var i = 0; i < 3; i++)
        {
            var c = await h.ConnectAsync();
            await h.WaitConnectedAsync(c.LocalEndPoint);
            clients.Add(c);
        }
        for (var i = 0; i < 3; i++)
        {
            await clients[i].SendAsync($"from {i}");
            // one receive per packet: wait until the stage has it before the next client sends
            await Eventually.TrueAsync(() => h.Stage.GetStats().PacketsReceivedTotal == i + 1, $"packet {i}");
        }
        var packets = await h.WaitPacketsAsync(p => p.Count == 3, "a group of three");
        Assert.Equal([3], h.GroupSizes);
        Assert.Equal(3, packets.Select(p => p.Connection).Distinct().Count());
        Assert.All(packets, p => Assert.Equal(packets[0].Group, p.Group));
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task A_partial_group_is_published_after_the_linger()
    {
        var linger = TimeSpan.FromMilliseconds(200);
        await using var h = new StageHarness(new TcpServerStageOptions { GroupSize = 3, GroupLinger = linger }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitConnectedAsync(client.LocalEndPoint);
        var sent = System.Diagnostics.Stopwatch.StartNew();
        await client.SendAsync("lonely");
        await h.WaitPacketsAsync(p => p.Count == 1, "the lingering group");
        Assert.True(sent.Elapsed >= linger - TimeSpan.FromMilliseconds(5), $"published after {sent.Elapsed.TotalMilliseconds} ms, linger is 200 ms");
        Assert.Equal([1], h.GroupSizes);
    }

    [Fact]
    public async Task Group_sequence_numbers_increase_by_one()
    {
        await using var h = new StageHarness(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitConnectedAsync(client.LocalEndPoint);
        for (var i = 0; i < 5; i++)
        {
            await client.SendAsync("x");
            await Eventually.TrueAsync(() => h.Packets.Count == i + 1, $"packet {i}");
        }
        Assert.Equal([1L, 2, 3, 4, 5], h.Packets.Select(p => p.Group));
    }
}
