using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary><c>ferry serve --proxy-protocol</c> and the <c>ferry run</c> keys of the PROXY protocol.</summary>
public sealed class ProxyProtocolCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-proxy-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task Serve_with_proxy_protocol_prints_the_real_client_as_peer_and_the_proxy_as_via()
    {
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "lines", "--proxy-protocol", "any",
            "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "127.0.0.1"], TextReader.Null, stdout, new LineWriter(), stop.Token));
        try
        {
            var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            var endPoint = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);
            using var proxy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await proxy.ConnectAsync(endPoint);
            await proxy.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.10 10.0.0.1 56324 443\r\nhello\n"));
            var connected = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected line");
            Assert.Equal("192.0.2.10:56324", connected.GetProperty("peer").GetString());
            Assert.Equal(proxy.LocalEndPoint!.ToString(), connected.GetProperty("via").GetString());
            var packet = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "packet line");
            Assert.Equal("192.0.2.10:56324", packet.GetProperty("peer").GetString());
            Assert.Equal("hello", packet.GetProperty("text").GetString());
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
        }
    }

    [Fact]
    public async Task A_refused_proxy_header_is_counted_in_the_stats_line()
    {
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "lines", "--proxy-protocol", "v1",
            "--trusted-proxy", "127.0.0.1"], TextReader.Null, stdout, new LineWriter(), stop.Token));
        try
        {
            var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            var endPoint = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);
            using var proxy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await proxy.ConnectAsync(endPoint);
            await proxy.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 not-an-address 10.0.0.1 56324 443\r\n"));
            await stdout.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "proxy_protocol", "the refusal");
            var stats = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "stats") && j.GetProperty("proxy_failures").GetInt64() == 1, "a stats line counting it");
            Assert.Equal(0, stats.GetProperty("tls_failures").GetInt64());
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
        }
    }

    [Theory]
    [InlineData(new[] { "--proxy-protocol", "v2" }, "--proxy-protocol v2 needs at least one --trusted-proxy")]
    [InlineData(new[] { "--trusted-proxy", "10.0.0.1" }, "--trusted-proxy and --proxy-header-timeout need --proxy-protocol")]
    [InlineData(new[] { "--proxy-protocol", "v3", "--trusted-proxy", "10.0.0.1" }, "--proxy-protocol")]
    [InlineData(new[] { "--proxy-protocol", "any", "--trusted-proxy", "10.0.0.0/33" }, "--trusted-proxy '10.0.0.0/33' is not an address or network")]
    [InlineData(new[] { "--proxy-protocol", "any", "--trusted-proxy", "10.0.0.1/8" },
        "--trusted-proxy '10.0.0.1/8' has bits set after its /8 prefix; write the network as 10.0.0.0/8, or 10.0.0.1 for that one address")]
    public async Task Bad_proxy_flags_exit_2_with_one_line(string[] flags, string expected)
    {
        // Bounded: flags taken by mistake would start a server that runs until stopped.
        var (code, _, stderr) = await RunAsync(["serve", "--bind", "127.0.0.1:0", .. flags]).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains(expected, string.Join("\n", stderr));
    }

    [Fact]
    public async Task The_pipeline_file_takes_the_proxy_keys_and_names_a_bad_one()
    {
        var good = Path.Combine(_dir, "good.yaml");
        await File.WriteAllTextAsync(good, """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  proxy_protocol: v2
                  trusted_proxies: [10.0.0.0/8, 192.168.1.5]
                  proxy_header_timeout: 3s
            """);
        var (code, _, stderr) = await RunAsync("check", good);
        Assert.True(code == 0, string.Join("\n", stderr));

        var bad = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(bad, """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  proxy_protocol: v3
                  trusted_proxies: 10.0.0.0/8, nonsense
            """);
        (code, _, stderr) = await RunAsync("check", bad);
        Assert.Equal(2, code);
        var all = string.Join("\n", stderr);
        Assert.Contains($"{bad}:6:7: stages[0].config.proxy_protocol: 'v3' is not allowed", all);
        Assert.Contains("(allowed: off, v1, v2, any)", all);
        Assert.Contains("stages[0].config.trusted_proxies", all);
        Assert.Contains("'nonsense' is not an address or network", all);
    }

    [Fact]
    public async Task Proxy_keys_without_proxy_protocol_are_refused_in_a_file_as_the_flags_are()
    {
        // Before: ferry check said 'valid' and the stage served without reading a header (--trusted-proxy alone exits 2).
        var file = Path.Combine(_dir, "noproto.yaml");
        await File.WriteAllTextAsync(file, """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  trusted_proxies: [10.0.0.1]
                  proxy_header_timeout: 5s
              - name: off
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  proxy_protocol: off
                  proxy_header_timeout: 5s
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:6:7: stages[0].config.trusted_proxies: has no effect while proxy_protocol is off; set it to v1, v2 or any to read their PROXY headers, or leave trusted_proxies out",
            $"{file}:7:7: stages[0].config.proxy_header_timeout: '5s' has no effect while proxy_protocol is off; set it to v1, v2 or any, or leave proxy_header_timeout out",
            $"{file}:13:7: stages[1].config.proxy_header_timeout: '5s' has no effect while proxy_protocol is off; set it to v1, v2 or any, or leave proxy_header_timeout out",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public void The_library_refuses_trusted_proxies_without_the_protocol()
    {
        var ex = Assert.Throws<Ferry.Stages.StageOptionsException>(() => new Ferry.Stages.TcpServerStageOptions { TrustedProxies = ["10.0.0.1"] }.Validate());
        Assert.Contains("TcpServerStageOptions.TrustedProxies: has no effect while ProxyProtocol is off; set it to v1, v2 or any", ex.Message);
    }
}
