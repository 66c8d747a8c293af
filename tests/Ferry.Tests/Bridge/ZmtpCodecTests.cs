using System.Buffers;
using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bridge.Zmtp;

namespace Ferry.Tests.Bridge;

public sealed class ZmtpCodecTests
{
    private static byte[] Written(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Greeting_is_64_octets_of_zmtp_3_1_null_as_client()
    {
        byte[] greeting = Written(ZmtpGreeting.Write);

        Assert.Equal(64, greeting.Length);
        Assert.Equal(0xFF, greeting[0]);
        Assert.Equal(0x7F, greeting[9]);
        Assert.Equal(3, greeting[10]);
        Assert.Equal(1, greeting[11]);
        Assert.Equal("NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"u8.ToArray(), greeting[12..32]);
        Assert.Equal(0, greeting[32]);
        Assert.All(greeting[33..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Greeting_parses_at_every_split_and_waits_for_all_64_octets()
    {
        byte[] bytes = [.. Written(ZmtpGreeting.Write), 0xAA];
        for (int cut = 0; cut <= bytes.Length; cut++)
        {
            ReadOnlySequence<byte> partial = new(bytes, 0, Math.Min(cut, 63));
            SequencePosition consumed = partial.Start, examined = partial.Start;
            Assert.False(ZmtpGreeting.TryParse(partial, ref consumed, ref examined, out _));
            Assert.Equal(partial.End, examined);

            ReadOnlySequence<byte> split = Segment.Split(bytes, cut);
            consumed = split.Start;
            examined = split.Start;
            Assert.True(ZmtpGreeting.TryParse(split, ref consumed, ref examined, out ZmtpGreeting parsed));
            Assert.Equal(64, split.Slice(0, consumed).Length);
            Assert.Equal((3, 1, true, false), (parsed.VersionMajor, parsed.VersionMinor, parsed.IsNullMechanism, parsed.AsServer));
        }
    }

    [Fact]
    public void Greeting_accepts_a_zmtp_3_0_peer_with_libzmq_padding()
    {
        byte[] bytes = Written(ZmtpGreeting.Write);
        bytes[11] = 0;
        bytes[1] = 0x12; // padding is not significant
        ReadOnlySequence<byte> input = new(bytes);
        SequencePosition consumed = input.Start, examined = input.Start;
        Assert.True(ZmtpGreeting.TryParse(input, ref consumed, ref examined, out ZmtpGreeting parsed));
        Assert.Equal((3, 0), (parsed.VersionMajor, parsed.VersionMinor));
    }

    [Fact]
    public void Greeting_rejects_non_zmtp_and_old_peers_early_and_flags_other_mechanisms()
    {
        static void Parse(byte[] bytes)
        {
            ReadOnlySequence<byte> input = new(bytes);
            SequencePosition consumed = input.Start, examined = input.Start;
            ZmtpGreeting.TryParse(input, ref consumed, ref examined, out _);
        }

        Assert.Throws<ZmtpProtocolException>(() => Parse("GET / HTTP/1.1"u8.ToArray()));
        Assert.Throws<ZmtpProtocolException>(() => Parse([0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 1])); // ZMTP 2.0
        Assert.Throws<ZmtpProtocolException>(() => Parse([0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7E]));    // ZMTP 1.0

        byte[] curve = Written(ZmtpGreeting.Write);
        "CURVE"u8.CopyTo(curve.AsSpan(12));
        ReadOnlySequence<byte> input = new(curve);
        SequencePosition c = input.Start, e = input.Start;
        Assert.True(ZmtpGreeting.TryParse(input, ref c, ref e, out ZmtpGreeting parsed));
        Assert.False(parsed.IsNullMechanism);
    }

    [Theory]
    [InlineData(0, false, false, new byte[] { 0x00, 0 })]
    [InlineData(255, true, false, new byte[] { 0x01, 255 })]
    [InlineData(5, false, true, new byte[] { 0x04, 5 })]
    [InlineData(256, true, false, new byte[] { 0x03, 0, 0, 0, 0, 0, 0, 1, 0 })]
    [InlineData(8 * 1024 * 1024, false, false, new byte[] { 0x02, 0, 0, 0, 0, 0, 0x80, 0, 0 })]
    public void Frame_headers_are_short_up_to_255_and_long_network_order_beyond(long size, bool more, bool command, byte[] expected)
    {
        byte[] written = Written(new ZmtpFrameHeader(size, more, command).Write);
        Assert.Equal(expected, written);

        for (int cut = 0; cut <= written.Length; cut++)
        {
            Assert.False(ZmtpFrameHeader.TryRead(new ReadOnlySequence<byte>(written, 0, cut == written.Length ? 0 : cut), out _, out _) && cut < written.Length);
            Assert.True(ZmtpFrameHeader.TryRead(Segment.Split(written, cut), out ZmtpFrameHeader header, out int length));
            Assert.Equal((size, more, command, written.Length), (header.BodyLength, header.More, header.IsCommand, length));
        }
    }

    [Fact]
    public void Long_form_is_accepted_for_small_bodies()
    {
        Assert.True(ZmtpFrameHeader.TryRead(new ReadOnlySequence<byte>([0x02, 0, 0, 0, 0, 0, 0, 0, 3]), out ZmtpFrameHeader header, out int length));
        Assert.Equal((3L, 9), (header.BodyLength, length));
    }

    [Theory]
    [InlineData(new byte[] { 0x08, 0 })]
    [InlineData(new byte[] { 0x80, 0 })]
    [InlineData(new byte[] { 0x05, 0 })]
    [InlineData(new byte[] { 0x02, 0x80, 0, 0, 0, 0, 0, 0, 0 })]
    public void Bad_frame_headers_are_protocol_errors(byte[] bytes)
    {
        Assert.Throws<ZmtpProtocolException>(() => ZmtpFrameHeader.TryRead(new ReadOnlySequence<byte>(bytes), out _, out _));
    }

    [Fact]
    public void Whole_frames_parse_bedrock_style_with_consumed_and_examined()
    {
        byte[] body = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        byte[] bytes = Written(w => ZmtpFrame.Write(w, body, more: true, isCommand: false));
        Assert.Equal(9 + 300, bytes.Length);

        ReadOnlySequence<byte> partial = new(bytes, 0, 100);
        SequencePosition consumed = partial.Start, examined = partial.Start;
        Assert.False(ZmtpFrame.TryParse(partial, ref consumed, ref examined, 1000, out _));
        Assert.Equal(partial.Start, consumed);
        Assert.Equal(partial.End, examined);

        ReadOnlySequence<byte> whole = Segment.Split(bytes, 5, 100, 200);
        consumed = whole.Start;
        examined = whole.Start;
        Assert.True(ZmtpFrame.TryParse(whole, ref consumed, ref examined, 1000, out ZmtpFrame frame));
        Assert.True(frame.Header.More);
        Assert.Equal(body, frame.Body.ToArray());
        Assert.Equal(whole.End, consumed);

        consumed = whole.Start;
        Assert.Throws<ZmtpProtocolException>(() => ZmtpFrame.TryParse(whole, ref consumed, ref examined, 299, out _));
    }

    [Fact]
    public void Ready_carries_the_socket_type_as_rfc_23_metadata()
    {
        byte[] bytes = Written(w => ZmtpCommand.WriteReady(w, ZmtpSocketType.Push));
        byte[] expected = [0x04, 26, 5, .. "READY"u8, 11, .. "Socket-Type"u8, 0, 0, 0, 4, .. "PUSH"u8];
        Assert.Equal(expected, bytes);

        ZmtpCommand command = ZmtpCommand.Parse(bytes.AsSpan(2));
        Assert.Equal(ZmtpCommandKind.Ready, command.Kind);
        Assert.True(command.TryGetSocketType(out ReadOnlySpan<byte> type));
        Assert.True(ZmtpSocketTypes.IsCompatiblePeer(ZmtpSocketType.Pull, type));
        Assert.False(ZmtpSocketTypes.IsCompatiblePeer(ZmtpSocketType.Push, type));
    }

    [Fact]
    public void Ready_metadata_names_are_case_insensitive_and_other_properties_are_skipped()
    {
        byte[] body = [5, .. "READY"u8, 8, .. "Identity"u8, 0, 0, 0, 2, 0xAB, 0xCD, 11, .. "socket-type"u8, 0, 0, 0, 4, .. "PULL"u8];
        ZmtpCommand command = ZmtpCommand.Parse(body);
        Assert.True(command.TryGetSocketType(out ReadOnlySpan<byte> type));
        Assert.Equal("PULL"u8.ToArray(), type.ToArray());
        Assert.True(command.TryGetProperty("identity"u8, out ReadOnlySpan<byte> identity));
        Assert.Equal([0xAB, 0xCD], identity.ToArray());
    }

    [Fact]
    public void Malformed_commands_are_protocol_errors()
    {
        Assert.Throws<ZmtpProtocolException>(() => ZmtpCommand.Parse([]));
        Assert.Throws<ZmtpProtocolException>(() => ZmtpCommand.Parse([9, (byte)'R']));
        byte[] overrun = [5, .. "READY"u8, 4, .. "Name"u8, 0, 0, 1, 0, 1];
        Assert.Throws<ZmtpProtocolException>(() => ZmtpCommand.Parse(overrun).TryGetSocketType(out _));
    }

    [Fact]
    public void Ping_context_comes_back_in_pong_and_unknown_commands_parse_as_unknown()
    {
        byte[] ping = Written(w => ZmtpCommand.WritePing(w, 30, "ctx"u8));
        Assert.Equal([0x04, 10, 4, .. "PING"u8, 0, 30, .. "ctx"u8], ping);
        ZmtpCommand parsed = ZmtpCommand.Parse(ping.AsSpan(2));
        Assert.Equal(ZmtpCommandKind.Ping, parsed.Kind);
        Assert.Equal("ctx"u8.ToArray(), parsed.PingContext.ToArray());

        byte[] context = parsed.PingContext.ToArray();
        byte[] pong = Written(w => ZmtpCommand.WritePong(w, context));
        Assert.Equal([0x04, 8, 4, .. "PONG"u8, .. "ctx"u8], pong);

        Assert.Equal(ZmtpCommandKind.Unknown, ZmtpCommand.Parse([9, .. "SUBSCRIBE"u8, 1]).Kind);
    }

    [Fact]
    public void Error_command_carries_its_reason()
    {
        byte[] error = Written(w => ZmtpCommand.WriteError(w, "Invalid socket type"));
        ZmtpCommand parsed = ZmtpCommand.Parse(error.AsSpan(2));
        Assert.Equal(ZmtpCommandKind.Error, parsed.Kind);
        Assert.Equal("Invalid socket type", parsed.ErrorReason);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(70_000)]
    public void A_frame_is_four_parts_with_little_endian_flags(int size)
    {
        var frame = new Frame(Enumerable.Range(0, size).Select(i => (byte)(i * 3)).ToArray(), flags: 0xBEEF, channel: 7, error: 0x42);
        byte[] bytes = Written(w => RogueMessage.Write(frame.Payload.Span, frame.Flags, frame.Channel, frame.Error, w));
        Assert.Equal(RogueMessage.GetEncodedLength(size), bytes.Length);
        Assert.Equal([0x01, 2, 0xEF, 0xBE, 0x01, 1, 7, 0x01, 1, 0x42], bytes[..10]);
        // The payload part: short header up to 255 bytes, long (8-byte size) above; decoding is in ZmtpFramingTests.
        int header = size > 255 ? 9 : 2;
        Assert.Equal(size > 255 ? 0x02 : 0x00, bytes[10]);
        Assert.Equal(frame.Payload.ToArray(), bytes[(10 + header)..]);
        Assert.Equal(0xEF, frame.FirstUser);
        Assert.Equal(0xBE, frame.LastUser);
        Assert.Equal((ushort)0xBEEF, Frame.ComposeFlags(0xEF, 0xBE));
    }
}
