using System.Net;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class ServeFramingTests
{
    [Fact]
    public async Task Header_framing_prints_its_fields_and_echo_re_encodes_them()
    {
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "header", "--echo"], TextReader.Null, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        using var client = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
        byte[] frame = [0x00, 0x10, 0x00, 0x00, 0x00, 0x02, 0x80, 0x01, (byte)'h', (byte)'i'];
        await client.SendAsync(frame);
        Assert.Equal(frame, await client.ReceiveExactlyAsync(frame.Length));
        var packet = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "packet line");
        Assert.Equal(0x10, packet.GetProperty("msg_type").GetInt32());
        Assert.Equal(0x8001, packet.GetProperty("flags").GetInt32());
        Assert.Equal("hi", packet.GetProperty("text").GetString());
        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Mux_framing_prints_the_stream()
    {
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "mux"], TextReader.Null, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        using var client = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
        await client.SendAsync([0, 0, 0, 7, 0, 0, 0, 1, (byte)'!']);
        var packet = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "packet line");
        Assert.Equal(7, packet.GetProperty("stream").GetInt32());
        stop.Cancel();
        await exit.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Theory]
    [InlineData("length,bytes=5", "bytes=5")]
    [InlineData("fixed", "size")]
    [InlineData("lines,on_error=explode", "on_error")]
    public async Task An_invalid_framing_spec_exits_naming_the_bad_part(string spec, string part)
    {
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["serve", "--framing", spec], TextReader.Null, new LineWriter(), stderr, CancellationToken.None));
        Assert.Contains(part, Assert.Single(stderr.Lines));
    }
}
