using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// examples/tcp-proxy.yaml closes a client that does not read its answers (<c>egress_overflow: disconnect</c> on 'front')
/// rather than dropping some of them and leaving it connected with every later answer one behind its request, which the
/// example's former default (<c>drop</c>) did without a word to the client.
/// </summary>
public sealed class ProxyExampleSlowReaderTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_example_proxy_closes_a_client_that_does_not_read_its_answers_as_a_slow_consumer()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        await using var run = RunningCommand.Start(null, "run", RepoFiles.Path("examples/tcp-proxy.yaml"), "--quiet",
            "--set", "stages.front.config.bind=127.0.0.1:0",
            "--set", $"stages.back.config.connect=127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}",
            "--set", $"telemetry.prometheus.listen=127.0.0.1:{FreePorts.One()}");
        var front = await run.ListeningAsync("front");
        using var timeout = new CancellationTokenSource(Deadline);
        using var upstream = await listener.AcceptTcpClientAsync(timeout.Token);
        _ = upstream.GetStream().CopyToAsync(upstream.GetStream(), timeout.Token); // echoes every request
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == "back", "back connected upstream");

        // Dave pipelines 16 MB of requests and reads none of the answers: once the kernel's buffers and front's 64 KiB are
        // full, an answer cannot be queued for him.
        using var dave = new TcpClient();
        dave.ReceiveBufferSize = 4096;
        await dave.ConnectAsync(front, timeout.Token);
        var line = Encoding.ASCII.GetBytes(new string('d', 999) + "\n");
        var sending = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < 16_000; i++)
                    await dave.GetStream().WriteAsync(line, timeout.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // closed as a slow consumer while still sending
            }
        });

        var closed = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("stage").GetString() == "front", "dave closed by front");
        Assert.Equal("slow_consumer", closed.GetProperty("reason").GetString());
        dave.Close();
        await sending.WaitAsync(Deadline);
        Assert.Equal(0, await run.StopAsync());
    }
}
