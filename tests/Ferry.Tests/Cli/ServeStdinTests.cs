using System.Net;
using System.Text;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class ServeStdinTests
{
    [Fact]
    public async Task Stdin_commands_send_broadcast_group_close_and_list()
    {
        var stdin = new QueueReader();
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet"], stdin, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        var endPoint = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);

        using var a = await FramedTestClient.ConnectAsync(endPoint);
        using var b = await FramedTestClient.ConnectAsync(endPoint);
        string IdOf(FramedTestClient c) => stdout.Json.Single(j => LineWriter.Is(j, "connected") && j.GetProperty("peer").GetString()!.EndsWith(":" + c.LocalEndPoint.Port)).GetProperty("conn").GetString()!;
        await Poll.UntilAsync(() => stdout.Json.Count(j => LineWriter.Is(j, "connected")) == 2, "two connected lines");
        var aId = IdOf(a);
        var bId = IdOf(b);

        stdin.Send($$"""{"type":"send","conn":"{{aId}}","text":"hi a"}""");
        Assert.Equal("hi a", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(4)));

        stdin.Send($$"""{"type":"broadcast","base64":"{{Convert.ToBase64String("all"u8)}}","except":"{{aId}}"}""");
        Assert.Equal("all", Encoding.ASCII.GetString(await b.ReceiveExactlyAsync(3)));

        // send_any: one connection per message, in turn.
        stdin.Send("""{"type":"send_any","text":"j1"}""");
        stdin.Send("""{"type":"send_any","text":"j2"}""");
        var jobs = new[] { Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(2)), Encoding.ASCII.GetString(await b.ReceiveExactlyAsync(2)) };
        Assert.Equal(["j1", "j2"], jobs.Order());

        stdin.Send($$"""{"type":"join","conn":"{{aId}}","group":"ops"}""");
        stdin.Send("""{"type":"group_send","group":"ops","text":"ops only"}""");
        Assert.Equal("ops only", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(8)));

        stdin.Send("""{"type":"connections"}""");
        var table = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "connections"), "connections line");
        var rows = table.GetProperty("connections").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal("ops", rows.Single(r => r.GetProperty("conn").GetString() == aId).GetProperty("groups")[0].GetString());

        // Bad commands: an error line each, nothing changes.
        stdin.Send("not json");
        stdin.Send("""{"type":"teleport"}""");
        stdin.Send("""{"type":"send","conn":"nope","text":"x"}""");
        stdin.Send($$"""{"type":"send","conn":"{{aId}}"}""");
        await Poll.UntilAsync(() => stdout.Json.Count(j => LineWriter.Is(j, "error")) == 4, "four error lines");
        var errors = stdout.Json.Where(j => LineWriter.Is(j, "error")).Select(j => j.GetProperty("message").GetString()!).ToList();
        Assert.StartsWith("not JSON", errors[0]);
        Assert.Contains("unknown command type 'teleport'", errors[1]);
        Assert.Contains("'nope' is not a connection id", errors[2]);
        Assert.Contains("missing \"text\" or \"base64\"", errors[3]);

        stdin.Send($$"""{"type":"close","conn":"{{bId}}","reason":"bye","code":"E42"}""");
        var closed = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("conn").GetString() == bId, "b closed");
        Assert.Equal("killed", closed.GetProperty("reason").GetString());
        Assert.Equal("E42", closed.GetProperty("code").GetString());
        Assert.Equal("bye", closed.GetProperty("detail").GetString());

        // End of input does not stop the server.
        stdin.End();
        using var c = await FramedTestClient.ConnectAsync(endPoint);
        await Poll.UntilAsync(() => stdout.Json.Count(j => LineWriter.Is(j, "connected")) == 3, "a third client after end of stdin");

        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Commands_the_framing_refuses_or_too_long_lines_get_an_error_line_and_the_reader_goes_on()
    {
        var stdin = new QueueReader();
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet", "--framing", "fixed,size=4", "--egress-buffer", "16"],
            stdin, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        using var a = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
        var aId = (await stdout.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected")).GetProperty("conn").GetString();

        // The wrong size for fixed,size=4: the framing refuses it; this used to end the reader silently.
        stdin.Send($$"""{"type":"send","conn":"{{aId}}","text":"five!"}""");
        var refused = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "error"), "an error line for the refused payload");
        Assert.Contains("the framing refuses this payload", refused.GetProperty("message").GetString());

        // A line longer than the cap (1 MiB here) is reported and costs no more than the cap.
        var longLine = "{\"type\":\"broadcast\",\"text\":\"" + new string('x', 2 * 1024 * 1024) + "\"}";
        stdin.Send(longLine);
        var tooLong = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "error") && j.GetProperty("message").GetString()!.Contains("longer than"), "an error line for the long line");
        Assert.Contains($"command line of {longLine.Length} characters is longer than the 1048576 allowed", tooLong.GetProperty("message").GetString());

        // Still reading: a good command goes through.
        stdin.Send($$"""{"type":"send","conn":"{{aId}}","text":"four"}""");
        Assert.Equal("four"u8.ToArray(), await a.ReceiveExactlyAsync(4));
        Assert.Equal(1, (await stdout.WaitJsonAsync(j => LineWriter.Is(j, "ok"), "ok for the good command")).GetProperty("delivered").GetInt32());

        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task A_command_that_is_not_utf8_is_refused_where_it_is_not_blamed_on_a_byte_never_sent()
    {
        // Before: "not JSON: '0xEF' is an invalid start of a value" for a byte 0xFF outside a string (U+FFFD re-encoded), and
        // inside a "text" the replacement character was sent to the clients in place of the byte.
        await using var stage = new Ferry.Stages.TcpServerStage(new Ferry.Stages.TcpServerStageOptions { Bind = "127.0.0.1:0" });
        using var writer = new JsonLineWriter(new StringWriter());
        var commands = new StdinCommands(stage, writer);
        foreach (var (line, at) in new[] { ("\uFFFD{\"type\":\"connections\"}", 1), ("{\"type\":\"broadcast\",\"text\":\"a\uFFFDb\"}", 30) })
        {
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => commands.ExecuteAsync(line, CancellationToken.None));
            Assert.Equal($"not UTF-8 at character {at}: a byte that is not UTF-8 (or a raw U+FFFD) was read there; "
                + "send commands as UTF-8 JSON, and a U+FFFD meant as text written \\ufffd", refused.Message);
        }
    }

    [Fact]
    public async Task A_message_larger_than_the_whole_egress_buffer_gets_a_precise_note()
    {
        var stdin = new QueueReader();
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet", "--egress-buffer", "16"], stdin, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        using var a = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
        var aId = (await stdout.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected")).GetProperty("conn").GetString();

        stdin.Send($$"""{"type":"send","conn":"{{aId}}","text":"{{new string('y', 100)}}"}""");
        var ok = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "ok"), "the answer");
        Assert.Equal(0, ok.GetProperty("delivered").GetInt32());
        Assert.Equal("the message is 100 bytes encoded, larger than the whole egress buffer (16 bytes): it can never be queued", ok.GetProperty("note").GetString());

        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
    }
}
