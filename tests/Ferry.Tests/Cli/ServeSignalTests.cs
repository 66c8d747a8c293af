using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

[Trait("Category", "BlackBox")]
public sealed class ServeSignalTests
{
    [Fact]
    public async Task Sigterm_stops_ferry_serve_gracefully()
    {
        var start = CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet");
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var lines = new List<JsonElement>();
            async Task<JsonElement> NextAsync(string type)
            {
                while (true)
                {
                    var line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException($"no '{type}' line");
                    var json = JsonDocument.Parse(line).RootElement;
                    lines.Add(json);
                    if (LineWriter.Is(json, type))
                        return json;
                }
            }
            var listening = await NextAsync("listening");
            using var client = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
            await NextAsync("connected");

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);

            var disconnected = await NextAsync("disconnected");
            Assert.Equal("server_stopping", disconnected.GetProperty("reason").GetString());
            await NextAsync("closed");
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.True(await client.WaitClosedAsync());
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }
}
