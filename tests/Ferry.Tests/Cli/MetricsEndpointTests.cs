using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// The Prometheus scrape endpoint of <c>ferry serve --metrics-listen</c> and <c>telemetry.prometheus.listen</c>: a taken port
/// is one line naming the flag or key, the address and the OS reason (it crashed serve with exit 134); a scrape is answered
/// whatever its Host header names (a DNS name got 404), on the given address only, IPv4 or IPv6 (IPv6 was refused at
/// validation); an address it cannot listen on is refused at validation, saying what is allowed.
/// </summary>
public sealed class MetricsEndpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Socket Hold(IPAddress address, out int port)
    {
        port = FreePorts.One();
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, port));
        socket.Listen();
        return socket;
    }

    [Fact]
    public async Task Serve_with_a_taken_metrics_port_exits_1_with_one_line_and_never_listens()
    {
        using var held = Hold(IPAddress.Loopback, out var port);
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var code = await FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--metrics-listen", $"127.0.0.1:{port}"], TextReader.Null, stdout, stderr,
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, code);
        var line = Assert.Single(stderr.Lines);
        Assert.StartsWith($"ferry serve: --metrics-listen 127.0.0.1:{port}: the Prometheus endpoint cannot listen: ", line);
        Assert.Contains("in use", line, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(stdout.Lines, l => l.Contains("\"listening\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_with_a_taken_metrics_port_names_the_key_and_the_address()
    {
        using var held = Hold(IPAddress.Loopback, out var port);
        var file = Path.Combine(_dir, "m.yaml");
        File.WriteAllText(file, $"stages:\n  - {{name: a, type: tcp_server, config: {{bind: \"127.0.0.1:0\"}}}}\ntelemetry:\n  prometheus: {{listen: \"127.0.0.1:{port}\"}}\n");
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var code = await FerryCommand.RunAsync(["run", file], TextReader.Null, stdout, stderr, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, code);
        Assert.Contains(stderr.Lines, l => l.Contains($"telemetry.prometheus.listen 127.0.0.1:{port}: the Prometheus endpoint cannot listen: ", StringComparison.Ordinal));
        Assert.DoesNotContain(stdout.Lines, l => l.Contains("\"listening\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("127.0.0.1", "localhost")]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("127.0.0.1", "ferry.example")] // a static_configs target written as the machine's DNS name (got 404)
    public async Task The_endpoint_answers_a_scrape_whatever_host_it_names(string address, string host)
    {
        var ip = IPAddress.Parse(address);
        var port = FreePorts.One();
        var listen = new IPEndPoint(ip, port).ToString();
        using var stop = new CancellationTokenSource();
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet", "--metrics-listen", listen], TextReader.Null, stdout, stderr, stop.Token));
        try
        {
            await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{new IPEndPoint(ip, port)}/metrics");
            request.Headers.Host = $"{host}:{port}";
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("# TYPE ferry_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        Assert.Empty(stderr.Lines);
    }

    [Fact]
    public Task The_endpoint_listens_on_the_given_address_only()
        // Both loopback: bound to 127.0.0.2, nothing answers on 127.0.0.1 at that port, and any Host is served on 127.0.0.2.
        => ServesOnlyAt(port => $"127.0.0.2:{port}", port => [$"ferry.example:{port}"]);

    [Theory]
    [InlineData("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed")]
    [InlineData("GET metrics\r\n\r\n", "HTTP/1.1 400 Bad Request")]
    [InlineData("GET /metrics HTTP/1.1\r\nX-Big: {big}\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large")]
    [InlineData("HEAD /metrics HTTP/1.1\r\nHost: anything\r\n\r\n", "HTTP/1.1 200 OK")]
    public async Task A_request_the_endpoint_does_not_serve_gets_a_status_that_says_why(string request, string expected)
    {
        var port = FreePorts.One();
        var telemetry = new Ferry.Cli.Pipeline.TelemetryDefinition($"127.0.0.1:{port}", null, "grpc", TimeSpan.FromSeconds(10));
        using var loggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        using var export = Ferry.Cli.Pipeline.PipelineTelemetry.Start(telemetry, loggerFactory);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(10));
        await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(request.Replace("{big}", new string('x', 20_000), StringComparison.Ordinal)));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await client.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
            answer.Write(buffer, 0, n);
        Assert.StartsWith(expected, System.Text.Encoding.ASCII.GetString(answer.ToArray()), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("::1:9464", "an IPv6 address needs brackets before its port")]
    [InlineData("[::1]", "use an IP address and a port from 1 to 65535")]
    [InlineData("[::1]:0", "port 0 is not a port the scrape endpoint can be found on")]
    [InlineData("localhost:9464", "use an IP address and a port from 1 to 65535")]
    [InlineData("127.0.0.1:0", "port 0 is not a port the scrape endpoint can be found on")]
    [InlineData("127.0.0.1", "use an IP address and a port from 1 to 65535")]
    public async Task Serve_refuses_a_metrics_address_it_cannot_serve_at_validation(string listen, string expected)
    {
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var code = await FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--metrics-listen", listen], TextReader.Null, stdout, stderr, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Lines);
        Assert.Contains($"--metrics-listen '{listen}'", line);
        Assert.Contains(expected, line);
        Assert.Contains("[::]:9464 for every IPv6 interface", line);
    }

    [Fact]
    public async Task Check_refuses_an_unbracketed_ipv6_metrics_address_at_the_key()
    {
        var file = Path.Combine(_dir, "v6.yaml");
        File.WriteAllText(file, "stages:\n  - {name: a, type: tcp_server, config: {bind: \"127.0.0.1:0\"}}\ntelemetry:\n  prometheus: {listen: \"::1:9464\"}\n");
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        Assert.Equal(2, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(stderr.Lines, l => l.StartsWith($"{file}:4:16: telemetry.prometheus.listen: ", StringComparison.Ordinal) && l.Contains("needs brackets"));
    }

    /// <summary>IPv6 was refused at validation (the HTTP listener takes no IPv6 prefix); the front socket listens on it.</summary>
    [Ipv6LoopbackFact]
    public Task The_endpoint_listens_on_an_ipv6_address_and_on_it_only()
        => ServesOnlyAt(port => $"[::1]:{port}", port => [$"[::1]:{port}", $"ferry.example:{port}"]);

    /// <summary>`ferry serve --metrics-listen` at an address: scrapes there answer for each Host, 127.0.0.1 at that port refuses.</summary>
    private static async Task ServesOnlyAt(Func<int, string> listen, Func<int, string[]> hosts)
    {
        var port = FreePorts.One();
        var address = listen(port);
        using var stop = new CancellationTokenSource();
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet", "--metrics-listen", address],
            TextReader.Null, stdout, stderr, stop.Token));
        try
        {
            await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            foreach (var host in hosts(port))
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{address}/metrics");
                request.Headers.Host = host;
                using var response = await http.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Contains("# TYPE ferry_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            var other = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/metrics"));
            Assert.Equal(HttpRequestError.ConnectionError, other.HttpRequestError);
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        Assert.Empty(stderr.Lines);
    }

    [Ipv6LoopbackFact]
    public async Task Check_passes_an_ipv6_metrics_address_in_brackets_and_the_endpoint_serves_it()
    {
        var port = FreePorts.One();
        var file = Path.Combine(_dir, "v6.yaml");
        File.WriteAllText(file, $"stages:\n  - {{name: a, type: tcp_server, config: {{bind: \"127.0.0.1:0\"}}}}\ntelemetry:\n  prometheus: {{listen: \"[::1]:{port}\"}}\n");
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        Assert.Equal(0, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        var telemetry = new Ferry.Cli.Pipeline.TelemetryDefinition($"[::1]:{port}", null, "grpc", TimeSpan.FromSeconds(10));
        using var export = Ferry.Cli.Pipeline.PipelineTelemetry.Start(telemetry, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync($"http://[::1]:{port}/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

/// <summary>A fact that is reported as skipped, with the reason, on a machine whose loopback has no IPv6 (::1 cannot be bound).</summary>
public sealed class Ipv6LoopbackFactAttribute : FactAttribute
{
    private static readonly string? WhyUnavailable = Probe();

    public Ipv6LoopbackFactAttribute()
    {
        if (WhyUnavailable is { } reason)
            Skip = reason;
    }

    private static string? Probe()
    {
        if (!Socket.OSSupportsIPv6)
            return "this machine has no IPv6";
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return null;
        }
        catch (SocketException ex)
        {
            return $"this machine's loopback has no IPv6: binding [::1] fails ({ex.Message})";
        }
    }
}
