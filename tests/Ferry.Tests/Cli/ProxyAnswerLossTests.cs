using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// An answer that comes for a client of the proxy that has left is a reply loss: it is counted and reported with the
/// pair's other losses (before, only the server stage's egress_unknown_target counted it, and nothing was said).
/// </summary>
public sealed class ProxyAnswerLossTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-proxy-loss-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_answer_for_a_client_that_left_while_it_was_pending_is_reported_as_dropped()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:{{{((IPEndPoint)listener.LocalEndpoint).Port}}}", framing: lines}}
            routes:
              - {from: front, to: back}
              - {from: back, to: front, target: reply}
            """);
        await using var run = RunningCommand.Start(null, "run", path, "--quiet");
        var front = await run.ListeningAsync("front");
        using var timeout = new CancellationTokenSource(Deadline);
        using var upstream = await listener.AcceptTcpClientAsync(timeout.Token);
        using var reader = new StreamReader(upstream.GetStream(), Encoding.UTF8);
        await Poll.UntilAsync(() => run.Out.Json.Any(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == "back"), "back connected upstream", Deadline);

        var alice = await FramedTestClient.ConnectAsync(front, new FramedTestClientOptions { Framing = FramingSpec.Parse("lines"), Timeout = Deadline });
        await alice.SendMessageAsync("Q1");
        Assert.Equal("Q1", await reader.ReadLineAsync(timeout.Token));
        await alice.DisposeAsync();
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("stage").GetString() == "front", "alice gone from front");

        await upstream.GetStream().WriteAsync(Encoding.UTF8.GetBytes("A1\n"), timeout.Token);
        var line = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "error"), "the loss reported");
        Assert.Equal("reply back -> front: an answer from 'back' came for a client of 'front' that has left; it was dropped (so far: 0 requests without an answer, 1 answers dropped)",
            line.GetProperty("message").GetString());
        // As every line of ferry run, it names its stage (before: none), the upstream stage whose answers these are.
        Assert.Equal("back", line.GetProperty("stage").GetString());
        Assert.Equal("reply", line.GetProperty("kind").GetString());
        Assert.Equal(0, await run.StopAsync());
    }
}
