using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class ConnectCommandTests
{
    [Fact]
    public async Task Serve_and_connect_make_a_chat_pair_even_when_connect_starts_first()
    {
        int port = FreePorts.One();
        using var stop = new CancellationTokenSource();

        var connectIn = new QueueReader();
        var connectOut = new LineWriter();
        var connect = Task.Run(() => FerryCommand.RunAsync(
            ["connect", $"127.0.0.1:{port}", "--framing", "lines", "--reconnect-wait", "20ms", "--reconnect-max-wait", "100ms"],
            connectIn, connectOut, new LineWriter(), stop.Token));
        await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "connect_failed"), "a refused attempt");

        var serveIn = new QueueReader();
        var serveOut = new LineWriter();
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", $"127.0.0.1:{port}", "--framing", "lines"], serveIn, serveOut, new LineWriter(), stop.Token));
        await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected");

        connectIn.Send("hello from the client");
        var atServer = await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "the client's line at the server");
        Assert.Equal("hello from the client", atServer.GetProperty("text").GetString());

        serveIn.Send($$"""{"type":"send","conn":"{{atServer.GetProperty("conn").GetString()}}","text":"hello from the server"}""");
        var atClient = await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "the server's line at the client");
        Assert.Equal("hello from the server", atClient.GetProperty("text").GetString());

        stop.Cancel();
        Assert.Equal(0, await connect.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Theory]
    [InlineData(new[] { "connect" }, "needs HOST:PORT")]
    [InlineData(new[] { "connect", ":80" }, "option 'connect'")]
    [InlineData(new[] { "connect", "127.0.0.1:9", "--framing", "bogus" }, "--framing")]
    [InlineData(new[] { "connect", "127.0.0.1:9", "--idle-timeout", "x" }, "--idle-timeout 'x'")]
    public async Task Bad_arguments_exit_2_with_one_line(string[] args, string expected)
    {
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(args, TextReader.Null, new LineWriter(), stderr, CancellationToken.None));
        Assert.Contains(expected, Assert.Single(stderr.Lines));
    }
}
