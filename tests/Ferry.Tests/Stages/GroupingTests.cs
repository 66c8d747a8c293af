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
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 3, GroupLinger = TimeSpan.FromSeconds(30) }.On(Transport));
        await h.StartAsync();
        var clients = new List<FramedTestClient>();
        for (var i = 0; i < 3; i++)
        {
            var c = await h.ConnectAsync();
            await h.WaitForConnectionAsync(c.LocalEndPoint);
            clients.Add(c);
        }
        for (var i = 0; i < 3; i++)
        {
            await clients[i].SendAsync($"from {i}");
            // one receive per packet: wait until the stage has it before the next client sends
            await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == i + 1, $"packet {i}");
        }
        var packets = await h.WaitForPacketsAsync(p => p.Count == 3, "a group of three");
        Assert.Equal([3], h.GroupSizes);
        Assert.Equal(3, packets.Select(p => p.Connection).Distinct().Count());
        Assert.All(packets, p => Assert.Equal(packets[0].Group, p.Group));
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task A_partial_group_is_published_after_the_linger()
    {
        var linger = TimeSpan.FromMilliseconds(200);
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 3, GroupLinger = linger }.On(Transport), time: time);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        await client.SendAsync("lonely");
        await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == 1, "the packet to be read");

        await h.AdvanceAsync(linger - TimeSpan.FromMilliseconds(1));
        Assert.Empty(h.Packets); // still lingering one millisecond before the end

        time.Advance(TimeSpan.FromMilliseconds(1));
        await h.WaitForPacketsAsync(p => p.Count == 1, "the lingering group");
        Assert.Equal([1], h.GroupSizes);
    }

    [Fact]
    public async Task A_group_is_published_exactly_at_the_linger_boundary_of_its_first_packet()
    {
        var linger = TimeSpan.FromMilliseconds(50);
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 10, GroupLinger = linger }, time: time);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);

        // The first packet opens the group; later ones join it without extending its linger.
        await client.SendAsync("first");
        await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == 1, "the first packet to be read");
        await h.AdvanceAsync(TimeSpan.FromMilliseconds(30));
        await client.SendAsync("second");
        await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == 2, "the second packet to be read");

        // 49.9999 ms after the first packet (one tick short of the linger): nothing published.
        time.Advance(TimeSpan.FromMilliseconds(20) - TimeSpan.FromTicks(1));
        await h.SettleAsync();
        Assert.Empty(h.Packets);
        Assert.Equal(0, h.Stage.GetStats().GroupsPublishedTotal);

        // At the boundary itself: published, both packets in one group.
        time.Advance(TimeSpan.FromTicks(1));
        await h.SettleAsync();
        Assert.Equal(["first", "second"], h.Packets.Select(p => System.Text.Encoding.ASCII.GetString(p.Payload)));
        Assert.Equal([2], h.GroupSizes);

        // The next packet opens a new group with a linger of its own.
        await client.SendAsync("third");
        await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == 3, "the third packet to be read");
        await h.AdvanceAsync(linger - TimeSpan.FromMilliseconds(1));
        Assert.Equal([2], h.GroupSizes);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await h.WaitForPacketsAsync(p => p.Count == 3, "the second group");
        Assert.Equal([2, 1], h.GroupSizes);
        Assert.Equal([1L, 1, 2], h.Packets.Select(p => p.Group));
    }

    [Fact]
    public async Task Group_sequence_numbers_increase_by_one()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        for (var i = 0; i < 5; i++)
        {
            await client.SendAsync("x");
            await Poll.UntilAsync(() => h.Packets.Count == i + 1, $"packet {i}");
        }
        Assert.Equal([1L, 2, 3, 4, 5], h.Packets.Select(p => p.Group));
    }
}
