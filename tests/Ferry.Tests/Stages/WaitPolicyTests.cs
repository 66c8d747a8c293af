using Ferry.Bus;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>The <c>wait</c> overflow policy holds the sender of a message for a full client, never the stage.</summary>
public sealed class WaitPolicyTests
{
    [Fact]
    public async Task A_client_that_never_reads_holds_only_its_own_inline_echo_not_the_other_clients()
    {
        const int egressLimit = 64 * 1024;
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressBufferBytes = egressLimit,
            EgressWaitTimeout = TimeSpan.FromMinutes(5),
            Socket = new Ferry.Transport.TcpSocketOptions { ReceiveBufferSize = 64 * 1024, SendBufferSize = 64 * 1024 },
        }, recordPackets: false);
        // The inline echo of `ferry serve --echo`: runs on the service thread.
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        using var echo = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
                await egress.PublishAsync(EgressMessage.To(packet.ConnectionId, packet.Payload), ct);
        });
        await h.StartAsync();

        using var stuck = await h.ConnectAsync();
        var stuckId = (await h.WaitForEventAsync<Ferry.Stages.ConnectedEvent>()).ConnectionId;
        // It sends far more than its egress buffer and both kernels can hold, and never reads.
        using var flooding = new CancellationTokenSource();
        var flood = Task.Run(async () =>
        {
            var chunk = new byte[16 * 1024];
            try
            {
                while (!flooding.IsCancellationRequested)
                    await stuck.Socket.SendAsync(chunk, System.Net.Sockets.SocketFlags.None, flooding.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
            }
        });
        // Until its egress is full and the stage stops reading it (its own TCP window closes).
        await Poll.UntilAsync(() => h.Stage.GetConnections().Single(c => c.Id == stuckId).EgressBytesQueued >= egressLimit / 2, "the stuck client's egress to fill");

        var others = new List<FramedTestClient>();
        for (var i = 0; i < 3; i++)
            others.Add(await h.ConnectAsync());
        var roundTrips = others.Select(async client =>
        {
            for (var n = 0; n < 300; n++)
            {
                var message = System.Text.Encoding.ASCII.GetBytes($"ping {n:D5}");
                await client.SendAsync(message);
                Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length, TimeSpan.FromSeconds(5)));
            }
        }).ToArray();
        await Task.WhenAll(roundTrips).WaitAsync(TimeSpan.FromSeconds(60));

        // The stuck client was held, not fed without bound: what waits for it is its buffer plus what one publish carried.
        var stuckRow = h.Stage.GetConnections().Single(c => c.Id == stuckId);
        Assert.InRange(stuckRow.EgressBytesQueued, egressLimit, egressLimit + 2 * h.Stage.Options.ReadBufferBytes);
        var inBefore = stuckRow.BytesIn;
        await Task.Delay(200); // not a timer wait: gives the flood a chance to show that reads really stopped
        Assert.InRange(h.Stage.GetConnections().Single(c => c.Id == stuckId).BytesIn - inBefore, 0, h.Stage.Options.ReadBufferBytes);

        await flooding.CancelAsync();
        stuck.Dispose();
        await flood;
        foreach (var client in others)
            client.Dispose();
    }
}
