using System.Text.Json;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using NatsWorker;

namespace Ferry.Nats.Tests;

/// <summary>examples/NatsWorker against a real gateway: uppercased replies, and the kill switch on the forbidden word.</summary>
public sealed class ExampleWorkerTests
{
    [SkippableTheory]
    [InlineData(NatsDeliveryMode.Core)]
    [InlineData(NatsDeliveryMode.JetStream)]
    public async Task The_worker_answers_by_conn_id_and_kills_a_connection_that_says_the_forbidden_word(NatsDeliveryMode mode)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var gateway = await Gateway.StartAsync(server, "pos", FramingSpec.Parse("lines"), o => o.Mode = mode);
        await using var nats = await Observer.ConnectAsync(server);
        await using var events = await Observer.CollectAsync(nats, "ferry.pos.events");
        var worker = new UppercaseWorker(nats, "pos", forbidden: "forbidden");
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => mode == NatsDeliveryMode.Core ? worker.RunCoreAsync(stop.Token) : worker.RunJetStreamAsync(stop.Token));
        await worker.Subscribed.WaitAsync(TimeSpan.FromSeconds(10));

        using var good = await TestClient.ConnectAsync(gateway.Port);
        using var bad = await TestClient.ConnectAsync(gateway.Port);
        var badId = await gateway.ConnectionOfAsync(bad.LocalPort);
        await good.SendAsync("hello\nworld\n");
        await good.WaitForTextAsync(t => t == "HELLO\nWORLD\n");
        await bad.SendAsync("this is forbidden\n");
        await bad.WaitClosedAsync();
        await good.SendAsync("still here\n");
        await good.WaitForTextAsync(t => t == "HELLO\nWORLD\nSTILL HERE\n");

        await Eventually.TrueAsync(() => events.Messages.Any(m => JsonDocument.Parse(m.Data!).RootElement.GetProperty("type").GetString() == "disconnected"),
            TimeSpan.FromSeconds(10), () => "no disconnected event");
        var disconnected = events.Messages.Select(m => JsonDocument.Parse(m.Data!).RootElement).First(j => j.GetProperty("type").GetString() == "disconnected");
        Assert.Equal(badId.ToString(), disconnected.GetProperty("conn").GetString());
        Assert.Equal("killed", disconnected.GetProperty("reason").GetString());
        Assert.Equal("FORBIDDEN", disconnected.GetProperty("code").GetString());
        Assert.Equal((3L, 1L), (Interlocked.Read(ref worker.Replied), Interlocked.Read(ref worker.Killed)));
        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
        }
    }
}
