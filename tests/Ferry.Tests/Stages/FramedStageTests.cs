using Ferry.Transport;
using System.Buffers;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>Framings end to end: real sockets, fragmented and coalesced writes, header fields, egress encoding.</summary>
public abstract class FramedStageTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : FramedStageTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : FramedStageTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    public static TheoryData<string> Specs => new()
    {
        "lines",
        @"delimiter,delimiter=\x03,position=prefix,include=true",
        "delimiter,delimiter=0x0d0a",
        "u16be",
        "u32be",
        "length,bytes=3,endian=little,offset=2,adjust=-4,strip=5",
        "fixed,size=16",
        "header",
        "text-length",
        "mux",
    };

    private static byte[] Encode(IFraming framing, byte[] payload, FrameFields fields)
    {
        var writer = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode(payload, fields, writer);
        return writer.WrittenSpan.ToArray();
    }

    private static (byte[] Payload, FrameFields Fields) Message(IFraming framing, Random random, int i)
    {
        var size = framing is FixedFraming ? 16 : random.Next(0, 300);
        var payload = new byte[size];
        for (var k = 0; k < size; k++)
            payload[k] = (byte)('a' + random.Next(26)); // never a delimiter
        var fields = framing switch
        {
            HeaderFraming => new FrameFields((ushort)random.Next(1, 65536), (ushort)random.Next(65536)),
            MuxFraming => new FrameFields(StreamId: (uint)random.Next(1, 1000)),
            _ => default,
        };
        if (framing is DelimiterFraming && size == 0)
            payload = "x"u8.ToArray(); // an empty line is a line, but an empty prefix frame has no boundary before the next
        return (payload, fields);
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public async Task Fragmented_and_coalesced_frames_become_exactly_those_packets_and_egress_is_encoded_alike(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = framing }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;

        var random = new Random(spec.GetHashCode() & 0xffff);
        var messages = Enumerable.Range(0, 60).Select(i => Message(framing, random, i)).ToList();
        var wire = messages.SelectMany(m => Encode(framing, m.Payload, m.Fields)).ToList();
        if (framing is DelimiterFraming { Position: DelimiterPosition.Prefix })
            wire.AddRange(Encode(framing, "end"u8.ToArray(), default)[..1]); // a prefix frame ends where the next begins

        // Write the stream in pieces of 1 to 40 bytes (fragmented), then one big write (coalesced).
        var bytes = wire.ToArray();
        var half = bytes.Length / 2;
        for (var at = 0; at < half;)
        {
            var n = Math.Min(random.Next(1, 41), half - at);
            client.Socket.NoDelay = true;
            await client.SendAsync(bytes[at..(at + n)]);
            at += n;
        }
        await client.SendAsync(bytes[half..]);

        var packets = await h.WaitForPacketsAsync(p => p.Count >= messages.Count, $"{messages.Count} packets");
        Assert.Equal(messages.Count, packets.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var expected = framing is DelimiterFraming { IncludeDelimiter: true } d
                ? Encode(framing, messages[i].Payload, default)
                : messages[i].Payload;
            Assert.Equal(expected, packets[i].Payload);
            Assert.Equal(messages[i].Fields, packets[i].Fields);
            Assert.Equal(id, packets[i].Connection);
        }

        // Egress goes out in the same framing, header fields included.
        var reply = messages[^1];
        Assert.True(await h.Stage.SendAsync(id, reply.Payload, reply.Fields));
        var encoded = Encode(framing, reply.Payload, reply.Fields);
        Assert.Equal(encoded, await client.ReceiveExactlyAsync(encoded.Length));
        Assert.Equal(0, h.Stage.GetStats().FrameErrorsTotal);
    }

    [Fact]
    public async Task A_frame_error_closes_only_that_connection_with_protocol_error()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("u16be,max_frame_bytes=100") }.On(Transport));
        await h.StartAsync();
        using var bad = await h.ConnectAsync();
        using var good = await h.ConnectAsync();
        var badId = (await h.WaitForConnectionAsync(bad.LocalEndPoint)).ConnectionId;
        var goodId = (await h.WaitForConnectionAsync(good.LocalEndPoint)).ConnectionId;

        await bad.SendAsync([0x10, 0x00]); // declares 4096 bytes: over the maximum
        var closed = await h.WaitForDisconnectAsync(badId);
        Assert.Equal(DisconnectReason.ProtocolError, closed.Reason);
        Assert.Contains("Oversize", closed.Detail);
        Assert.True(await bad.WaitClosedAsync());
        Assert.Contains(h.Events.OfType<StageErrorEvent>(), e => e.Kind == StageErrorKind.Frame && e.ConnectionId == badId);

        await good.SendAsync([0x00, 0x02, (byte)'o', (byte)'k']);
        var packets = await h.WaitForPacketsAsync(p => p.Count == 1, "the good client's frame");
        Assert.Equal(goodId, packets[0].Connection);
        Assert.Equal(1, h.Stage.GetStats().FrameErrorsTotal);
    }

    [Fact]
    public async Task With_skip_an_oversize_line_is_counted_and_the_connection_goes_on()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines,max_frame_bytes=10,on_error=skip") }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        await client.SendAsync("short\n" + new string('x', 5000) + "\nafter\n");
        var packets = await h.WaitForPacketsAsync(p => p.Count == 2, "two good lines");
        Assert.Equal(["short", "after"], packets.Select(p => Encoding.ASCII.GetString(p.Payload)));
        await Poll.UntilAsync(() => h.Stage.GetStats().FrameErrorsTotal >= 1, "the error counted");
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == id);
    }

    [Fact]
    public async Task A_client_that_never_ends_a_line_cannot_make_the_stage_buffer_more_than_the_maximum()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines,max_frame_bytes=4096") }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        var junk = new byte[1024];
        Array.Fill(junk, (byte)'z');
        try
        {
            for (var i = 0; i < 64; i++)
                await client.SendAsync(junk);
        }
        catch (System.Net.Sockets.SocketException) { } // closed mid-send: expected
        var closed = await h.WaitForDisconnectAsync(id);
        Assert.Equal(DisconnectReason.ProtocolError, closed.Reason);
        Assert.Contains("Oversize", closed.Detail);
    }

    [Fact]
    public async Task A_partial_frame_at_end_of_stream_is_delivered_or_reported_as_configured()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") }.On(Transport));
        await h.StartAsync();
        using (var client = await h.ConnectAsync())
        {
            await h.WaitForConnectionAsync(client.LocalEndPoint);
            await client.SendAsync("one\ntwo-without-newline");
            client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            var packets = await h.WaitForPacketsAsync(p => p.Count == 2, "both lines");
            Assert.Equal("two-without-newline", Encoding.ASCII.GetString(packets[1].Payload));
        }

        await using var strict = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("u16be") }.On(Transport));
        await strict.StartAsync();
        using var c2 = await strict.ConnectAsync();
        await strict.WaitForConnectionAsync(c2.LocalEndPoint);
        await c2.SendAsync([0x00, 0x05, (byte)'a']);
        c2.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        var truncated = await strict.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Frame && e.Message.Contains("Truncated"));
        Assert.False(truncated.Skipped); // an error, not bytes skipped on a connection that goes on
        Assert.Equal(DisconnectReason.RemoteClosed, (await strict.WaitForEventAsync<DisconnectedEvent>()).Reason);
        Assert.Equal(1, strict.Stage.GetStats().FrameErrorsTotal);
    }

    [Fact]
    public async Task A_decoder_that_throws_closes_only_that_connection_as_a_frame_error()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = new ThrowingLines() }.On(Transport));
        await h.StartAsync();
        using var bad = await h.ConnectAsync();
        using var good = await h.ConnectAsync();
        var badId = (await h.WaitForConnectionAsync(bad.LocalEndPoint)).ConnectionId;
        var goodId = (await h.WaitForConnectionAsync(good.LocalEndPoint)).ConnectionId;

        await bad.SendAsync("ok\n!boom\n");
        var closed = await h.WaitForDisconnectAsync(badId);
        Assert.Equal(DisconnectReason.ProtocolError, closed.Reason);
        Assert.Equal("Protocol: the decoder of framing 'throwing-lines' (Decoder) threw InvalidDataException: a bug at '!'", closed.Detail);
        Assert.True(await bad.WaitClosedAsync());
        Assert.Contains(h.Events.OfType<StageErrorEvent>(), e => e.Kind == StageErrorKind.Frame && e.ConnectionId == badId && e.Message.Contains("InvalidDataException"));

        // The other connection, and new ones, go on.
        using var late = await h.ConnectAsync();
        var lateId = (await h.WaitForConnectionAsync(late.LocalEndPoint)).ConnectionId;
        await good.SendAsync("good\n");
        await late.SendAsync("late\n");
        var packets = await h.WaitForPacketsAsync(p => p.Count == 3, "the bad client's first line, then one line from each other client");
        Assert.Equal("ok", Encoding.ASCII.GetString(packets[0].Payload));
        Assert.Equal(new HashSet<ConnectionId> { badId, goodId, lateId }, packets.Select(p => p.Connection).ToHashSet());
        Assert.Equal(1, h.Stage.GetStats().FrameErrorsTotal);
        Assert.Equal(2, h.Stage.ConnectionCount);
    }

    /// <summary>An application's framing with a bug: lines, whose decoder throws at a line that starts with '!'.</summary>
    private sealed class ThrowingLines : IFraming
    {
        private readonly IFraming _lines = FramingSpec.Parse("lines");

        public string Spec => "throwing-lines";

        public int MaxFrameBytes => _lines.MaxFrameBytes;

        public FrameErrorPolicy OnError => _lines.OnError;

        public IFrameEncoder Encoder => _lines.Encoder;

        public IFrameDecoder CreateDecoder() => new Decoder(_lines.CreateDecoder());

        private sealed class Decoder(IFrameDecoder lines) : IFrameDecoder
        {
            public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
            {
                if (!input.IsEmpty && input.FirstSpan[0] == (byte)'!')
                    throw new InvalidDataException("a bug at '!'");
                return lines.Decode(ref input, out payload, out fields, out error);
            }

            public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
                => lines.DecodeEnd(ref input, out payload, out fields, out error);
        }
    }
}
