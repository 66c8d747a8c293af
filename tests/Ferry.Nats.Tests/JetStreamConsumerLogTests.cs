using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Tests;

/// <summary>
/// A JetStream egress consumer that keeps failing while the broker answers (its stream deleted by an operator, and the
/// server refusing to recreate it) is said once at warning level, and once more when it works again. It used to retry
/// every 250 ms at debug level only. A deleted egress stream is now recreated at once (EgressStreamRecreationTests), so
/// the consumers fail for long only while another stream takes the egress subjects and the recreation is refused.
/// </summary>
public sealed class JetStreamConsumerLogTests
{
    [SkippableFact]
    public async Task A_consumer_that_keeps_failing_while_the_broker_answers_is_warned_about_once_and_its_return_is_said()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "gone", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream }, logs);
        await gateway.StartAsync(deadline.Token);

        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        // Deleted, and its subjects taken by another stream at once: the gateway cannot recreate it.
        await js.DeleteStreamAsync("ferry_gone_out", deadline.Token);
        await js.CreateStreamAsync(new StreamConfig("intruder", ["ferry.gone.out", "ferry.gone.out.>"]), deadline.Token);

        static bool Failing(string line) => line.StartsWith("Warning Ferry.", StringComparison.Ordinal) && line.Contains("keeps failing while the broker answers", StringComparison.Ordinal);
        // Three consumers read the egress stream (the instance's two and the shared "any" one): each says it once.
        await Eventually.TrueAsync(() => logs.All.Count(Failing) == 3, TimeSpan.FromSeconds(30), () => logs.Text);
        Assert.All(logs.All.Where(Failing), line => Assert.Contains("stream ferry_gone_out", line));
        // The refused recreation is said once too, however often the three consumers ask for it.
        Assert.Single(logs.All, line => line.Contains("egress stream ferry_gone_out (NatsGatewayOptions.EgressStream) is missing and cannot be recreated", StringComparison.Ordinal));

        // The other stream gone, the gateway's next attempt (backing off: within seconds) recreates it, and the consumers work again.
        await js.DeleteStreamAsync("intruder", deadline.Token);
        await Eventually.TrueAsync(() => logs.All.Count(line => line.Contains("of stream ferry_gone_out works again", StringComparison.Ordinal)) == 3,
            TimeSpan.FromSeconds(45), () => logs.Text);
        Assert.Equal(3, logs.All.Count(Failing));
        Assert.Single(logs.All, line => line.Contains("egress stream ferry_gone_out (NatsGatewayOptions.EgressStream) was missing while the gateway runs (deleted?): recreated it", StringComparison.Ordinal));
        Assert.Contains("Information Ferry.Nats.Gateway.gone: egress stream ferry_gone_out (NatsGatewayOptions.EgressStream) takes ferry.gone.out again", logs.All);
    }
}
