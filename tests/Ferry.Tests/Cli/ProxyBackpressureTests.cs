using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A reply proxy under <c>egress_overflow: wait</c> loses no request to its own bound of requests in flight
/// (<c>ReplyBook.DefaultCapacity</c>, 65536 per upstream connection): past it, 'front' waits for room, as it waits for
/// room in a full egress buffer, and every request gets its answer in order once the upstream answers again.
/// </summary>
public sealed class ProxyBackpressureTests : IDisposable
{
    private const int Requests = 70_000; // past the 65536 in flight that one upstream connection may have
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-proxy-wait-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonElement? LastStats(RunningCommand run, string stage)
        => run.Out.Json.LastOrDefault(j => LineWriter.Is(j, "stats") && j.GetProperty("stage").GetString() == stage) is { ValueKind: JsonValueKind.Object } last ? last : null;

    [Fact]
    public async Task Under_wait_a_request_past_the_bound_in_flight_waits_for_room_and_every_answer_comes_in_order()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, egress_buffer: 16MiB}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:{{{((IPEndPoint)listener.LocalEndpoint).Port}}}", framing: lines,
                 egress_buffer: 16MiB, egress_overflow: wait, egress_wait_timeout: 60s, stats_interval: 50ms}}
            routes:
              - {from: front, to: back}
              - {from: back, to: front, target: reply}
            """);
        await using var run = RunningCommand.Start(null, "run", path, "--quiet");
        var front = await run.ListeningAsync("front");
        using var timeout = new CancellationTokenSource(Deadline);
        using var upstream = await listener.AcceptTcpClientAsync(timeout.Token);
        await Poll.UntilAsync(() => run.Out.Json.Any(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == "back"), "back connected upstream", Deadline);

        // The upstream reads nothing yet: 'back' takes every request into its egress until 65536 wait for an answer.
        await using var client = await FramedTestClient.ConnectAsync(front, new FramedTestClientOptions { Framing = FramingSpec.Parse("lines"), Timeout = Deadline });
        var requests = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, Requests).Select(i => $"r{i}\n")));
        var sending = client.SendAsync(requests, timeout.Token);
        // 'front' reads on until the request past the bound, which waits for room off front's thread: front stops reading
        // this client (the others, its stats line and its timers go on). 'back' has written the 65536 before it upstream.
        await Poll.UntilAsync(() => LastStats(run, "back") is { } b && b.GetProperty("packets_out").GetInt64() >= 65536,
            "back wrote 65536 requests upstream", Deadline);

        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "error")); // the old book refused it at once: "65536 requests already wait …"

        // Now the upstream echoes: room comes back with each answer.
        _ = upstream.GetStream().CopyToAsync(upstream.GetStream(), timeout.Token);
        for (var i = 0; i < Requests; i++)
            Assert.Equal($"r{i}", (await client.ReceiveMessageAsync()).Text);
        await sending;
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "error"));
        Assert.Equal(0, await run.StopAsync());
    }
}
