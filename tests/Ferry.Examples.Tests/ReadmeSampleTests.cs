using System.Text;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Examples.Tests;

/// <summary>
/// README.md's C# samples that are whole programs run here as written: each sample sits in a test between
/// <c>// README sample: NAME</c> and <c>// README sample end</c>, and another test checks that README.md quotes exactly
/// those lines, so neither the API nor the README can drift from the other unnoticed.
/// </summary>
public sealed class ReadmeSampleTests
{
    private const string ThisFile = "tests/Ferry.Examples.Tests/ReadmeSampleTests.cs";

    [Fact]
    public async Task The_test_kit_sample_runs_as_written()
    {
        // README sample: test kit
        await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") });
        using var client = await server.ConnectAsync(new FramedTestClientOptions { Framing = FramingSpec.Parse("lines") });
        var connected = await server.WaitForConnectionAsync(client);
        await client.SendMessageAsync("hello");                                  // framed; SendAsync sends raw bytes
        Assert.Equal("hello", (await server.WaitForPacketAsync()).Text);
        await server.Stage.SendAsync(connected.ConnectionId, "hi"u8.ToArray());
        Assert.Equal("hi", (await client.ReceiveMessageAsync()).Text);
        client.Dispose();
        await server.WaitForDisconnectAsync(DisconnectReason.RemoteClosed);
        // README sample end
    }

    [Fact]
    public async Task The_connection_handler_sample_echoes_and_keeps_its_connection_in_the_lobby()
    {
        var bus = new InProcessBus();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }, bus);
        // README sample: one handler per connection
        stage.MapConnections(async (FerryConnection connection, CancellationToken ct) =>
        {
            var seen = 0;                                   // this connection's state
            connection.JoinGroup("lobby");
            await foreach (var message in connection.ReadAsync(ct))   // framed messages, in order
            {
                if (++seen > 1000) { connection.Close("too chatty", "E429"); break; }
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        });   // before StartAsync; the handler returning closes the connection (after its answers are flushed)
        // README sample end
        var local = await stage.StartAsync();
        using var client = await FramedTestClient.ConnectAsync(local);
        await client.SendAsync("ping");
        Assert.Equal("ping", Encoding.UTF8.GetString(await client.ReceiveExactlyAsync(4)));
        Assert.Single(stage.GetGroupMembers("lobby"));
    }

    [Theory]
    [InlineData("test kit")]
    [InlineData("one handler per connection")]
    public void The_readme_quotes_the_sample_that_runs_here(string name)
    {
        var sample = Sample(name);
        var readme = File.ReadAllText(RepoFiles.Path("README.md")).Replace("\r\n", "\n");
        Assert.True(readme.Contains(sample, StringComparison.Ordinal),
            $"README.md no longer quotes the '{name}' sample of {ThisFile} as it runs there; make them the same:\n{sample}");
    }

    /// <summary>The lines between a sample's markers, their common indentation removed.</summary>
    private static string Sample(string name)
    {
        var lines = File.ReadAllLines(RepoFiles.Path(ThisFile));
        var start = Array.FindIndex(lines, l => l.Trim() == $"// README sample: {name}");
        var end = Array.FindIndex(lines, start + 1, l => l.Trim() == "// README sample end");
        Assert.True(start >= 0 && end > start, $"the '{name}' sample's markers in {ThisFile}");
        var body = lines[(start + 1)..end];
        var indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())) + "\n";
    }
}
