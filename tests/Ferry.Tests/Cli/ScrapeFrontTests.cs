using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Cli.Pipeline;
using Ferry.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Cli;

/// <summary>
/// The scrape endpoint's front socket against clients that connect and send nothing, or trickle their request: it had 4
/// slots held up to 30 s each, so 4 such clients made every Prometheus scrape fail for as long as they kept coming back.
/// </summary>
public sealed class ScrapeFrontTests
{
    private static IDisposable StartEndpoint(int port, TimeProvider time)
        => PipelineTelemetry.Start(new TelemetryDefinition($"127.0.0.1:{port}", null, "grpc", TimeSpan.FromSeconds(10)),
            NullLoggerFactory.Instance, time: time)!;

    private static async Task<Socket> ConnectAsync(int port, string? partialHead = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(10));
        if (partialHead is not null)
            await socket.SendAsync(Encoding.ASCII.GetBytes(partialHead));
        return socket;
    }

    private static async Task<HttpStatusCode> ScrapeAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync($"http://127.0.0.1:{port}/metrics");
        return response.StatusCode;
    }

    /// <summary>True once the front has closed <paramref name="client"/> (an end or a reset), within 10 s of real time.</summary>
    private static async Task<bool> ClosedAsync(Socket client)
    {
        try
        {
            var buffer = new byte[256];
            return await client.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10)) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task A_scrape_gets_through_while_silent_and_trickling_clients_hold_every_slot()
    {
        // Fake time that never moves: no deadline frees a slot, so only the front's handling of a full house lets the scrape in.
        var time = new FakeTimeProvider();
        var port = FreePorts.One();
        using var endpoint = StartEndpoint(port, time);
        var holders = new List<Socket>();
        try
        {
            for (var i = 0; i < 2 * ScrapeFront.MaxExchanges + 4; i++)
                holders.Add(await ConnectAsync(port, i % 2 == 0 ? null : "GET /metrics HTTP/1.1\r\nHost: slow"));

            for (var scrape = 0; scrape < 3; scrape++)
                Assert.Equal(HttpStatusCode.OK, await ScrapeAsync(port));
            // The oldest of them was closed to make room.
            Assert.True(await ClosedAsync(holders[0]), "the oldest silent client is still open");
        }
        finally
        {
            foreach (var holder in holders)
                holder.Dispose();
        }
    }

    [Fact]
    public async Task A_client_that_does_not_finish_its_request_head_in_time_is_closed()
    {
        var time = new FakeTimeProvider();
        var port = FreePorts.One();
        using var endpoint = StartEndpoint(port, time);
        using var silent = await ConnectAsync(port);
        using var trickling = await ConnectAsync(port, "GET /metr");
        // Answered, so accepted after the two above: their deadlines run from now on the fake clock.
        Assert.Equal(HttpStatusCode.OK, await ScrapeAsync(port));

        time.Advance(ScrapeFront.HeadTimeout - TimeSpan.FromMilliseconds(100));
        await trickling.SendAsync(Encoding.ASCII.GetBytes("ics HTTP/1.1\r\n"));
        Assert.Equal(HttpStatusCode.OK, await ScrapeAsync(port));
        Assert.False(silent.Poll(0, SelectMode.SelectRead), "the silent client was closed before its deadline");
        Assert.False(trickling.Poll(0, SelectMode.SelectRead), "the trickling client was closed before its deadline");

        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(await ClosedAsync(silent), "the silent client is still open after the head deadline");
        Assert.True(await ClosedAsync(trickling), "the trickling client is still open after the head deadline");
    }

    [Fact]
    public async Task A_client_that_sends_its_head_in_time_is_answered_after_it()
    {
        // The head deadline is for the head only: a slow answer has the exchange deadline, not what is left of it.
        var time = new FakeTimeProvider();
        var port = FreePorts.One();
        using var endpoint = StartEndpoint(port, time);
        using var client = await ConnectAsync(port, "GET /metrics HTTP/1.1\r\n");
        Assert.Equal(HttpStatusCode.OK, await ScrapeAsync(port));
        time.Advance(ScrapeFront.HeadTimeout - TimeSpan.FromMilliseconds(1));
        await client.SendAsync(Encoding.ASCII.GetBytes("Host: x\r\n\r\n"));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await client.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
            answer.Write(buffer, 0, n);
        Assert.StartsWith("HTTP/1.1 200 OK", Encoding.ASCII.GetString(answer.ToArray()), StringComparison.Ordinal);
    }

    /// <summary>
    /// The exporter's own listener, on a loopback port any local user can find, answered every path with the metrics:
    /// the front's secret path is now the only way in, so a direct request gets a 404 and a scrape through the front works.
    /// </summary>
    [Fact]
    public async Task The_exporters_own_port_gives_no_metrics_to_a_direct_request()
    {
        var port = FreePorts.One();
        using var endpoint = StartEndpoint(port, new FakeTimeProvider());
        var backend = ((PipelineTelemetry.TelemetryExport)endpoint).Front!.Backend;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var path in new[] { "/metrics", "/", "/metrics/" })
        {
            using var direct = await http.GetAsync($"http://{backend}{path}");
            Assert.Equal(HttpStatusCode.NotFound, direct.StatusCode);
            // Through the front, /metrics only (ScrapeAnswerTests): the other paths are not found there either.
            using var scrape = await http.GetAsync($"http://127.0.0.1:{port}{path}");
            Assert.Equal(path == "/metrics" ? HttpStatusCode.OK : HttpStatusCode.NotFound, scrape.StatusCode);
        }
    }

    /// <summary><c>[::]</c> is every IPv6 interface and nothing more, as <c>0.0.0.0</c> is every IPv4 one: what was written.</summary>
    [Ipv6LoopbackFact]
    public async Task The_ipv6_any_address_takes_ipv6_only()
    {
        var port = FreePorts.One();
        using var front = new ScrapeFront(new IPEndPoint(IPAddress.IPv6Any, port), new FakeTimeProvider());
        using (var v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp))
            await v6.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port)).WaitAsync(TimeSpan.FromSeconds(10));
        using var v4 = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => v4.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }
}
