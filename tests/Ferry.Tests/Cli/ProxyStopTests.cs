using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A graceful stop of a <c>target: reply</c> proxy delivers the answers in flight: the requests already sent upstream get
/// their answers to their clients within the grace period, nothing new is sent meanwhile, and the run exits 0.
/// </summary>
public sealed class ProxyStopTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly FramedTestClientOptions Lines = new() { Framing = FramingSpec.Parse("lines"), Timeout = TimeSpan.FromSeconds(10) };
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-proxy-stop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Proxy(int upstreamPort)
    {
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, stop_grace_period: 20s}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:{{{upstreamPort}}}", framing: lines, reconnect_wait: 20ms, stop_grace_period: 20s}}
            routes:
              - {from: front, to: back}
              - {from: back, to: front, target: reply}
            """);
        return path;
    }

    [Fact]
    public async Task A_stop_with_a_request_in_flight_waits_for_its_answer_and_delivers_it_to_the_client_that_asked()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        await using var run = RunningCommand.Start(null, "run", Proxy(((IPEndPoint)listener.LocalEndpoint).Port), "--quiet");
        var front = await run.ListeningAsync("front");
        using var timeout = new CancellationTokenSource(Deadline);
        using var upstream = await listener.AcceptTcpClientAsync(timeout.Token);
        using var reader = new StreamReader(upstream.GetStream(), Encoding.UTF8);
        await Poll.UntilAsync(() => run.Out.Json.Any(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == "back"), "back connected upstream", Deadline);

        await using var alice = await FramedTestClient.ConnectAsync(front, Lines);
        await alice.SendMessageAsync("Q1");
        Assert.Equal("Q1", await reader.ReadLineAsync(timeout.Token));

        // The stop begins with Q1 read upstream and not answered yet. The answer is written once the stop is under way:
        // the run says it waits for it (the old stop closed the upstream connection at once: the read ends).
        var stopped = run.StopAsync();
        var upstreamEnded = reader.ReadLineAsync(timeout.Token).AsTask();
        await Poll.UntilAsync(() => upstreamEnded.IsCompleted || run.Err.Lines.Any(l => l.Contains("waiting", StringComparison.Ordinal)),
            "the stop under way", Deadline);
        Assert.False(upstreamEnded.IsCompleted, "the stop closed the upstream connection with a request in flight");
        await upstream.GetStream().WriteAsync(Encoding.UTF8.GetBytes("A1\n"), timeout.Token);

        Assert.Equal("A1", (await alice.ReceiveMessageAsync()).Text);
        Assert.Equal(0, await stopped);
        Assert.Contains("ferry run: stopping: waiting up to 20000 ms (stop_grace_period) for the answers to 1 request in flight on 'back'", run.Err.Lines);
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "error"));
    }
}
