using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;

namespace Ferry.Nats.Tests;

/// <summary>What a .NET user of Ferry.Nats could fall into from code: names that meet in JetStream, options changed after the gateway was made.</summary>
public sealed class NamesGatewayTrapsTests
{
    private static TcpServerStage Stage(string name)
        => new(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());

    /// <summary>
    /// Prefix x.y with stage z and prefix x with stage y_z both name their streams x_y_z_in and x_y_z_out. The second gateway used
    /// the first one's streams as they were: its ingress subject x.y_z.in is in neither, so every publish found no stream and was sent
    /// again for ever (and its egress consumers failed with the server's words). In one process the second is refused before it connects
    /// (<see cref="BusStreamCollisionsTests"/>); the first gateway is gone here, as in another process: its streams stay on the server.
    /// </summary>
    [SkippableFact]
    public async Task A_stream_of_the_same_name_that_is_another_stages_fails_the_start_saying_so()
    {
        await using var server = await NatsServer.StartNewAsync();
        await (await Gateway.StartAsync(server, "z", configure: o => { o.Mode = NatsDeliveryMode.JetStream; o.SubjectPrefix = "x.y"; })).DisposeAsync();

        await using var stage = Stage("y_z");
        await using var second = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, SubjectPrefix = "x" });
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        // Old code: no such line (the start failed later, on the egress consumers, in the client's words).
        Assert.Contains("NATS gateway of stage 'y_z': JetStream stream 'x_y_z_in' (NatsGatewayOptions.IngressStream) exists with subjects x.y.z.in, "
            + "which do not take x.y_z.in: it is another stage's or another prefix's", ex.Message);
    }

    /// <summary>As another process finds it: the first gateway, of this process, is gone, its stream stays.</summary>
    [SkippableFact]
    public async Task A_stream_option_without_the_stage_shared_by_two_stages_fails_the_second_start()
    {
        await using var server = await NatsServer.StartNewAsync();
        await (await Gateway.StartAsync(server, "a", configure: o => { o.Mode = NatsDeliveryMode.JetStream; o.IngressStream = "shared_in"; })).DisposeAsync();

        await using var stage = Stage("b");
        await using var second = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, IngressStream = "shared_in" });
        // Old code: the start succeeded, and every packet of b waited for a stream that never took it.
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.Contains("JetStream stream 'shared_in' (NatsGatewayOptions.IngressStream) exists with subjects ferry.a.in, which do not take ferry.b.in", ex.Message);
    }

    [SkippableFact]
    public async Task Options_changed_after_the_gateway_was_made_do_not_reach_it()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var stage = Stage("later");
        var options = new NatsGatewayOptions { Url = server.Url };
        await using var gateway = new NatsGateway(stage, options);
        // Reused for another gateway, or set after the check: before, the start read the URL (and max_in_flight, the mode, the
        // streams…) from the caller's object as it was then, unchecked, while the subjects stayed as made.
        options.Url = "nats://127.0.0.1:1";
        options.MaxInFlight = 0;
        await gateway.StartAsync();
        Assert.True(gateway.Counters.Connected);
    }

    /// <summary>
    /// nats-server closes the connection of a client whose protocol line exceeds max_control_line (4 KiB by default). Before, a
    /// prefix that long was valid: the gateway's subscription or first publish ended its connection, and the client reconnected and
    /// did it again, for ever. Now the options refuse it.
    /// </summary>
    [Fact]
    public void A_subject_too_long_for_the_server_is_refused_before_the_start()
    {
        var options = new NatsGatewayOptions { SubjectPrefix = new string('p', 4000) };
        var ex = Assert.Throws<NatsOptionsException>(() => options.Validate("pos"));
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.IngressSubject: '{prefix}.{stage}.in' is not allowed for this stage: it makes a subject "
            + "of 4007 characters; at most 1000 (nats-server closes the connection", StringComparison.Ordinal));
        Assert.Equal(5, ex.Problems.Count);
        new NatsGatewayOptions { SubjectPrefix = new string('p', 900) }.Validate("pos");
    }

    [Fact]
    public void Takes_follows_nats_wildcards()
    {
        Assert.True(Internal.JetStreamSetup.Takes(["a.b"], "a.b"));
        Assert.True(Internal.JetStreamSetup.Takes(["a.*"], "a.b"));
        Assert.True(Internal.JetStreamSetup.Takes(["a.>"], "a.b.c"));
        Assert.True(Internal.JetStreamSetup.Takes([">"], "a"));
        Assert.False(Internal.JetStreamSetup.Takes(["a.>"], "a"));
        Assert.False(Internal.JetStreamSetup.Takes(["a.*"], "a.b.c"));
        Assert.False(Internal.JetStreamSetup.Takes(["a.b"], "a.b_c"));
        Assert.False(Internal.JetStreamSetup.Takes(null, "a"));
    }
}
