using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Tests;

/// <summary>What a JetStream gateway says when the server cannot give it its streams: one clear error at start.</summary>
public sealed class JetStreamSetupTests
{
    [SkippableFact]
    public async Task A_server_without_JetStream_fails_the_start_with_an_error_that_says_so()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        await using var stage = NewStage("nojs");
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        Assert.Contains("stage 'nojs'", ex.Message);
        Assert.Contains(server.Url, ex.Message);
        Assert.Contains("JetStream is not enabled", ex.Message);
    }

    [SkippableFact]
    public async Task A_stream_the_server_refuses_is_named_with_its_option_and_the_servers_reason()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using (var nats = await Observer.ConnectAsync(server))
        {
            // Someone else's stream already takes the gateway's ingress subject.
            await new NatsJSContext(nats).CreateStreamAsync(new StreamConfig("other", ["ferry.taken.in"]));
        }
        await using var stage = NewStage("taken");
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        Assert.Contains("stage 'taken'", ex.Message);
        Assert.Contains("stream 'ferry_taken_in' (option 'ingress_stream')", ex.Message);
        Assert.Contains("overlap", ex.Message);
    }

    private static TcpServerStage NewStage(string name) =>
        new(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
}
