using System.Buffers;
using System.Globalization;
using System.Text;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;

namespace Ferry.Nats.Tests;

public sealed class IngressTests
{
    public static TheoryData<string> Framings => new()
    {
        "raw", "lines", @"delimiter,delimiter=\x03", "u16be", "length,bytes=3,endian=little", "fixed,size=6", "header", "text-length", "mux",
    };

    [SkippableTheory]
    [MemberData(nameof(Framings))]
    public async Task Every_packet_is_one_message_with_exact_payload_and_headers(string spec)
    {
        await using var server = await NatsServer.StartNewAsync();
        var framing = FramingSpec.Parse(spec);
        await using var nats = await Observer.ConnectAsync(server);
        await using var ingress = await Observer.CollectAsync(nats, "ferry.ing.in");
        await using var gateway = await Gateway.StartAsync(server, "ing", framing);
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        var payloads = spec switch
        {
            "fixed,size=6" => new[] { "abcdef"u8.ToArray(), new byte[] { 0, 1, 2, 0xfe, 0xff, 10 }, "ZZZZZZ"u8.ToArray() },
            "lines" or @"delimiter,delimiter=\x03" => ["first"u8.ToArray(), "second line"u8.ToArray(), "3"u8.ToArray()],
            _ => ["first"u8.ToArray(), [0, 1, 2, 0x03, 10, 13, 0xff], Encoding.UTF8.GetBytes(new string('x', 3000))],
        };
        var fields = new[] { new FrameFields(7, 0x8001, 5), new FrameFields(0, 0, 1), new FrameFields(65535, 1, uint.MaxValue) };
        var before = DateTimeOffset.UtcNow;
        for (var i = 0; i < payloads.Length; i++)
        {
            var wire = new ArrayBufferWriter<byte>();
            framing.Encoder.Encode(payloads[i], fields[i], wire);
            await client.SendAsync(wire.WrittenSpan.ToArray());
            if (spec == "raw")
                await ingress.WaitForAsync(i + 1); // raw: one receive is one packet, so one send at a time
        }

        var messages = await ingress.WaitForAsync(payloads.Length);
        Assert.Equal(payloads.Length, messages.Count);
        for (var i = 0; i < payloads.Length; i++)
        {
            var msg = messages[i];
            Assert.Equal(payloads[i], msg.Data);
            var h = msg.Headers!;
            Assert.Equal(id.ToString(), (string?)h["conn.id"]);
            Assert.Equal("127.0.0.1", (string?)h["peer.ip"]);
            Assert.Equal(client.LocalPort.ToString(CultureInfo.InvariantCulture), (string?)h["peer.port"]);
            var received = DateTimeOffset.Parse(h["recv.time"]!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            Assert.InRange(received, before.AddSeconds(-1), DateTimeOffset.UtcNow);
            var expected = spec switch
            {
                "header" => new Dictionary<string, string> { ["msg.type"] = fields[i].MessageType.ToString(), ["flags"] = fields[i].Flags.ToString() },
                "mux" => new Dictionary<string, string> { ["stream.id"] = fields[i].StreamId.ToString() },
                _ => [],
            };
            var fieldHeaders = h.Where(kv => kv.Key is not ("conn.id" or "peer.ip" or "peer.port" or "recv.time"))
                .ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
            Assert.Equal(expected, fieldHeaders);
        }
    }

    [SkippableFact]
    public async Task Zmtp_frames_carry_flags_channel_and_error_as_headers()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var ingress = await Observer.CollectAsync(nats, "ferry.zm.in");
        await using var gateway = await Gateway.StartAsync(server, "zm", FramingSpec.Parse("zmtp,socket=pull"));
        // A ZeroMQ PUSH peer: Ferry's own client stage with the zmtp framing.
        await using var push = new TcpClientStage(new TcpClientStageOptions
        {
            Name = "push", Connect = $"127.0.0.1:{gateway.Port}", Framing = FramingSpec.Parse("zmtp,socket=push"),
        }, new InProcessBus());
        await push.ConnectAsync();
        var payload = new byte[] { 0, 1, 2, 3, 0xff };
        Assert.True(await push.SendAsync(payload, new FrameFields(Flags: 0x0102, Channel: 7, Error: 3)));

        var msg = Assert.Single(await ingress.WaitForAsync(1));
        Assert.Equal(payload, msg.Data);
        var fields = msg.Headers!.Where(kv => kv.Key is not ("conn.id" or "peer.ip" or "peer.port" or "recv.time"))
            .ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
        Assert.Equal(new Dictionary<string, string> { ["flags"] = "258", ["channel"] = "7", ["error"] = "3" }, fields);
        Assert.Equal("127.0.0.1", (string?)msg.Headers!["peer.ip"]);
    }

    [SkippableFact]
    public async Task A_packet_group_per_message_uses_the_documented_layout()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var ingress = await Observer.CollectAsync(nats, "ferry.grp.in");
        await using var gateway = await Gateway.StartAsync(server, "grp", FramingSpec.Parse("header"),
            o => o.IngressLayout = NatsIngressLayout.PacketGroup,
            s => s with { GroupSize = 3, GroupLinger = TimeSpan.FromSeconds(5) });
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);
        var wire = new ArrayBufferWriter<byte>();
        for (ushort i = 1; i <= 3; i++)
            gateway.Stage.Options.Framing.Encoder.Encode(Encoding.ASCII.GetBytes($"packet {i}"), new FrameFields(i, (ushort)(i * 10)), wire);
        await client.SendAsync(wire.WrittenSpan.ToArray());

        var msg = Assert.Single(await ingress.WaitForAsync(1));
        Assert.Equal(PacketGroupLayout.Name, (string?)msg.Headers!["ferry.layout"]);
        Assert.Equal("1", (string?)msg.Headers!["group.seq"]);
        var packets = PacketGroupLayout.Read(msg.Data);
        Assert.Equal(3, packets.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(id, packets[i].Connection);
            Assert.Equal(client.LocalPort, packets[i].Peer.Port);
            Assert.Equal("127.0.0.1", packets[i].Peer.Address.ToString());
            Assert.Equal(new FrameFields((ushort)(i + 1), (ushort)((i + 1) * 10)), packets[i].Fields);
            Assert.Equal($"packet {i + 1}", Encoding.ASCII.GetString(packets[i].Payload.Span));
        }
        // The publisher counts after its publish returns, which can be after the subscriber has the message.
        await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressMessages == 1, TimeSpan.FromSeconds(10), () => gateway.Nats.Counters.ToString());
        Assert.Equal(3, gateway.Nats.Counters.IngressPackets);
    }

    [Fact]
    public void Bad_options_are_named_with_what_is_allowed()
    {
        var stage = new TcpServerStage(new TcpServerStageOptions { Name = "bad stage", Bind = "127.0.0.1:0" }, new InProcessBus());
        var ex = Assert.Throws<NatsOptionsException>(() => new NatsGateway(stage, new NatsGatewayOptions
        {
            Url = "http://x", IngressSubject = "ferry.*.in", MaxInFlight = 0, Mode = NatsDeliveryMode.JetStream, IngressStream = "a.b c",
            PublishTimeout = TimeSpan.Zero, WriteBufferBytes = 1024,
        }));
        // Options set in code are told by their properties, as the stage options' are; the message too.
        Assert.StartsWith("NatsGatewayOptions.Url: 'http://x' is not allowed; use nats://host:port", ex.Message, StringComparison.Ordinal);
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.Url: 'http://x' is not allowed", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.IngressSubject: 'ferry.*.in' is not allowed", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.MaxInFlight: 0 is not allowed; must be from 1", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.IngressStream: 'a.b c' is not allowed", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("stage name 'bad stage' cannot be a NATS subject token", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.PublishTimeout: 0 is not allowed; must be from 10ms to 10m", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.WriteBufferBytes: 1024 is not allowed; must be from 65536", StringComparison.Ordinal));
    }

    /// <summary>
    /// Subjects that share traffic used to be accepted: with the egress subject equal to the events subject every
    /// event was written to every TCP client, one below it (…out.any) took a share of the egress, and so on.
    /// </summary>
    [Fact]
    public void Subjects_that_would_share_traffic_are_refused_at_configuration()
    {
        var stage = new TcpServerStage(new TcpServerStageOptions { Name = "pos", Bind = "127.0.0.1:0" }, new InProcessBus());
        var ex = Assert.Throws<NatsOptionsException>(() => new NatsGateway(stage, new NatsGatewayOptions
        {
            EgressSubject = "{prefix}.{stage}.events", // the events subject's default
            ControlSubject = "{prefix}.{stage}.in",     // the ingress subject's default
            StatsSubject = "{prefix}.{stage}.events.any",
            Mode = NatsDeliveryMode.JetStream, EgressStream = "{prefix}_{stage}_in",
        }));
        Assert.Contains("NatsGatewayOptions.EgressSubject and NatsGatewayOptions.EventsSubject are both 'ferry.pos.events'; each needs a subject of its own", ex.Problems);
        Assert.Contains("NatsGatewayOptions.IngressSubject and NatsGatewayOptions.ControlSubject are both 'ferry.pos.in'; each needs a subject of its own", ex.Problems);
        Assert.Contains(ex.Problems, p => p.StartsWith("NatsGatewayOptions.StatsSubject: 'ferry.pos.events.any' is below EgressSubject 'ferry.pos.events'", StringComparison.Ordinal));
        Assert.Contains("NatsGatewayOptions.IngressStream and NatsGatewayOptions.EgressStream are both 'ferry_pos_in'; each needs a stream of its own", ex.Problems);
        Assert.Equal(4, ex.Problems.Count);

        new NatsGatewayOptions { Mode = NatsDeliveryMode.JetStream }.Validate("pos"); // the defaults are apart
    }
}
