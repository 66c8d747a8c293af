using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Cli.Pipeline;
using Ferry.Stages;

namespace Ferry.Tests.Cli;

/// <summary>
/// One server stage in two reply pairs (each request goes to two upstreams, each answers): a client that finished sending
/// lingers until both pairs owe it nothing. The half-close linger check is one per server stage; when the second pair's
/// replaced the first's, the first pair's last answer closed the client while the second still owed it one.
/// </summary>
public sealed class Proxy2TwoPairsTests
{
    [Fact]
    public async Task A_half_closed_client_waits_for_the_answers_of_both_pairs()
    {
        await using var rig = new Proxy2Rig("p2two", halfCloseLinger: TimeSpan.FromMinutes(5));
        using var listener2 = new TcpListener(IPAddress.Loopback, 0);
        listener2.Start();
        await using var back2 = new TcpClientStage(new TcpClientStageOptions
        {
            Name = "p2two-back2", Connect = $"127.0.0.1:{((IPEndPoint)listener2.LocalEndpoint).Port}", Framing = Ferry.Framing.FramingSpec.Parse("lines"),
        }, rig.Bus, timeProvider: rig.Time);
        var losses2 = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var book2 = new ReplyBook(new ReplyLoss(back2.Name, rig.Front.Name, losses2.Enqueue, rig.Time));
        using var requests2 = RouteWiring.AttachRequests(rig.Bus, new RouteDefinition(rig.Front.Name, back2.Name, RouteTarget.Any, "routes[2]"), rig.Front, back2, book2);
        using var answers2 = RouteWiring.AttachAnswers(rig.Bus, new RouteDefinition(back2.Name, rig.Front.Name, RouteTarget.Reply, "routes[3]"), rig.Front, book2);
        await rig.StartAsync();
        using var timeout = new CancellationTokenSource(Proxy2Rig.Deadline);
        var accepted2 = listener2.AcceptTcpClientAsync(timeout.Token);
        await back2.ConnectAsync(timeout.Token);
        using var upstream2 = await accepted2;
        using var upstream2Reader = new StreamReader(upstream2.GetStream(), Encoding.ASCII);

        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\n");
        a.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        Assert.Equal("a0", await upstream2Reader.ReadLineAsync(timeout.Token));

        // The first pair answers: the second still owes the client its answer, so the client stays.
        await rig.UpstreamAnswersAsync("A0 from one\n");
        Assert.Equal("A0 from one", (await a.ReceiveMessageAsync()).Text);
        await rig.Time.SettleAsync(rig.Front);
        Assert.Equal(1, rig.Front.ConnectionCount);

        await upstream2.GetStream().WriteAsync(Encoding.ASCII.GetBytes("A0 from two\n"), timeout.Token);
        Assert.Equal("A0 from two", (await a.ReceiveMessageAsync()).Text);
        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline), "the client was not closed once both pairs owed it nothing");
        Assert.Empty(rig.Losses);
        Assert.Empty(losses2);
    }
}
