using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A stop of a reply proxy refuses new clients at once, while it waits for the answers owed to the clients it has.</summary>
public sealed class Proxy2StopTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-proxy2-stop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task While_a_stop_waits_for_answers_in_flight_a_new_client_is_refused_and_the_owed_answer_is_delivered()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, stop_grace_period: 20s}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:{{{((IPEndPoint)listener.LocalEndpoint).Port}}}", framing: lines, stop_grace_period: 20s}}
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
        await using var alice = await FramedTestClient.ConnectAsync(front, new FramedTestClientOptions { Framing = FramingSpec.Parse("lines"), Timeout = Deadline });
        await alice.SendMessageAsync("Q1");
        Assert.Equal("Q1", await reader.ReadLineAsync(timeout.Token));

        var stopped = run.StopAsync();
        await Poll.UntilAsync(() => run.Err.Lines.Any(l => l.Contains("waiting", StringComparison.Ordinal)), "the stop waiting for Q1's answer", Deadline);
        // On the old code 'front' listened on until the answers were in: every attempt here was accepted.
        var refused = false;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!refused && DateTime.UtcNow < until)
        {
            using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await late.ConnectAsync(front, timeout.Token);
                await Task.Delay(20, timeout.Token); // the listener is closed on front's thread, once it has taken the stop's request
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                refused = true;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                // The listener closed while this attempt was in its backlog; the next attempt finds it closed.
            }
        }
        Assert.True(refused, "a client connecting while the stop waits for answers was still accepted");
        Assert.False(stopped.IsCompleted);

        await upstream.GetStream().WriteAsync(Encoding.UTF8.GetBytes("A1\n"), timeout.Token);
        Assert.Equal("A1", (await alice.ReceiveMessageAsync()).Text);
        Assert.Equal(0, await stopped);
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "error"));
    }
}
