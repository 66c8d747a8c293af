using System.Buffers;
using Ferry.Bridge.Zmtp;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Bridge;

/// <summary>
/// The <c>zmtp</c> session framing: spec, encoder, and sessions driven the way a stage drives them
/// (unconsumed bytes kept, new reads appended, Decode called until NeedMoreData), at many cuts.
/// </summary>
public sealed class ZmtpFramingTests
{
    private static readonly ZmtpFraming Pull = new(ZmtpSocketType.Pull);
    private static readonly ZmtpFraming Push = new(ZmtpSocketType.Push);

    // ---- Spec ----

    [Fact]
    public void Spec_with_defaults()
    {
        var framing = Assert.IsType<ZmtpFraming>(FramingSpec.Parse("zmtp,socket=pull"));
        Assert.Equal(ZmtpSocketType.Pull, framing.SocketType);
        Assert.Equal(ZmtpMessageFormat.Rogue, framing.Message);
        Assert.Equal(TimeSpan.FromSeconds(10), framing.HandshakeTimeout);
        Assert.Equal(FramingDefaults.MaxFrameBytes, framing.MaxFrameBytes);
        Assert.Equal(FrameErrorPolicy.Skip, framing.OnError);
        Assert.Equal("zmtp,socket=pull", framing.Spec);
        Assert.Equal(9 + 65536, framing.FrameOverheadBytes);
        Assert.Same(framing, framing.Encoder);
        Assert.Contains("zmtp", FramingSpec.Names);
    }

    [Theory]
    [InlineData(" zmtp , socket=push, message=single ,handshake_timeout_ms=500,max_frame_bytes=4096,on_error=close",
        "zmtp,socket=push,message=single,handshake_timeout_ms=500,max_frame_bytes=4096,on_error=close")]
    [InlineData("zmtp,socket=pull,message=rogue,handshake_timeout_ms=10000,max_frame_bytes=1048576,on_error=skip", "zmtp,socket=pull")]
    [InlineData("zmtp,on_error=close,socket=pull", "zmtp,socket=pull,on_error=close")]
    [InlineData("zmtp,socket=push,handshake_timeout_ms=1", "zmtp,socket=push,handshake_timeout_ms=1")]
    public void Spec_settings_are_read_and_written_back(string spec, string canonical)
    {
        var framing = Assert.IsType<ZmtpFraming>(FramingSpec.Parse(spec));
        Assert.Equal(canonical, framing.Spec);
        Assert.Equal(canonical, FramingSpec.Parse(canonical).Spec);
    }

    [Fact]
    public void Spec_values_reach_the_framing()
    {
        var framing = Assert.IsType<ZmtpFraming>(FramingSpec.Parse("zmtp,socket=push,message=single,handshake_timeout_ms=500,max_frame_bytes=4096,on_error=close"));
        Assert.Equal(
            (ZmtpSocketType.Push, ZmtpMessageFormat.Single, TimeSpan.FromMilliseconds(500), 4096, FrameErrorPolicy.Close),
            (framing.SocketType, framing.Message, framing.HandshakeTimeout, framing.MaxFrameBytes, framing.OnError));
    }

    [Theory]
    [InlineData("zmtp", "setting 'socket' is required")]
    [InlineData("zmtp,message=single", "setting 'socket' is required")]
    [InlineData("zmtp,socket=pair", "socket=pair: must be push or pull")]
    [InlineData("zmtp,socket=PUSH", "socket=PUSH: must be push or pull")]
    [InlineData("zmtp,socket=", "socket=: must be push or pull")]
    [InlineData("zmtp,socket=pull,message=multi", "message=multi: must be rogue or single")]
    [InlineData("zmtp,socket=pull,handshake_timeout_ms=0", "handshake_timeout_ms=0: must be a whole number from 1 to 2147483647")]
    [InlineData("zmtp,socket=pull,handshake_timeout_ms=-5", "handshake_timeout_ms=-5: must be a whole number from 1")]
    [InlineData("zmtp,socket=pull,handshake_timeout_ms=soon", "handshake_timeout_ms=soon: must be a whole number")]
    [InlineData("zmtp,socket=pull,handshake_timeout_ms=2147483648", "handshake_timeout_ms=2147483648: must be a whole number")]
    [InlineData("zmtp,socket=pull,max_frame_bytes=0", "max_frame_bytes=0: must be a whole number from 1")]
    [InlineData("zmtp,socket=pull,max_frame_bytes=2147483647", "max_frame_bytes=2147483647: must be a whole number from 1 to 2147418102 for zmtp")]
    [InlineData("zmtp,socket=pull,on_error=ignore", "on_error=ignore: must be close or skip")]
    [InlineData("zmtp,socket=pull,socket=push", "setting 'socket' is given twice")]
    [InlineData("zmtp,socket=pull,size=3", "unknown setting 'size' for zmtp (allowed: socket, message, handshake_timeout_ms, max_frame_bytes, on_error)")]
    public void Bad_specs_name_the_setting(string spec, string expected)
    {
        var e = Assert.Throws<FramingException>(() => FramingSpec.Parse(spec));
        Assert.StartsWith($"framing '{spec}': ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Bad_constructor_arguments_name_the_setting()
    {
        Assert.Contains("socket=", Assert.Throws<FramingException>(() => new ZmtpFraming((ZmtpSocketType)7)).Message);
        Assert.Contains("message=", Assert.Throws<FramingException>(() => new ZmtpFraming(ZmtpSocketType.Pull, (ZmtpMessageFormat)7)).Message);
        Assert.Contains("handshake_timeout_ms=0", Assert.Throws<FramingException>(() => new ZmtpFraming(ZmtpSocketType.Pull, handshakeTimeoutMs: 0)).Message);
        Assert.Contains("max_frame_bytes=0", Assert.Throws<FramingException>(() => new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: 0)).Message);
        Assert.Contains("max_frame_bytes=", Assert.Throws<FramingException>(() => new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: int.MaxValue)).Message);
        Assert.Contains("on_error=", Assert.Throws<FramingException>(() => new ZmtpFraming(ZmtpSocketType.Pull, onError: (FrameErrorPolicy)7)).Message);
        Assert.Equal(ZmtpFraming.MaxPayloadLimit, new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: ZmtpFraming.MaxPayloadLimit).MaxFrameBytes);
    }

    [Fact]
    public void A_plain_decoder_is_refused_with_a_pointer_to_sessions()
    {
        var e = Assert.Throws<NotSupportedException>(() => Pull.CreateDecoder());
        Assert.Contains("conversation", e.Message);
        Assert.Contains("CreateSession", e.Message);
        Assert.Throws<ArgumentNullException>(() => Pull.CreateSession(null!));
    }

    // ---- Encoder ----

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(70_000)]
    public void Encoded_length_is_exact(int length)
    {
        foreach (var framing in new[] { Push, new ZmtpFraming(ZmtpSocketType.Push, ZmtpMessageFormat.Single) })
        {
            var output = new ArrayBufferWriter<byte>();
            framing.Encode(new byte[length], new FrameFields(Flags: 0x1234, Channel: 5, Error: 6), output);
            Assert.Equal(framing.GetEncodedLength(length), output.WrittenCount);
        }
    }

    [Fact]
    public void Rogue_messages_are_four_parts_with_a_long_header_from_256_bytes()
    {
        var fields = new FrameFields(Flags: 0xA1B2, Channel: 7, Error: 9);
        var small = Encoded(Push, new byte[255], fields);
        Assert.Equal(10 + 2 + 255, small.Length);
        Assert.Equal(new byte[] { 0x01, 2, 0xB2, 0xA1, 0x01, 1, 7, 0x01, 1, 9, 0x00, 255 }, small[..12]);

        var large = Encoded(Push, new byte[256], fields);
        Assert.Equal(10 + 9 + 256, large.Length);
        Assert.Equal(new byte[] { 0x02, 0, 0, 0, 0, 0, 0, 1, 0 }, large[10..19]);

        var single = Encoded(new ZmtpFraming(ZmtpSocketType.Push, ZmtpMessageFormat.Single), [1, 2, 3], fields);
        Assert.Equal(new byte[] { 0x00, 3, 1, 2, 3 }, single);
    }

    [Fact]
    public void Egress_over_max_frame_bytes_throws()
    {
        var framing = new ZmtpFraming(ZmtpSocketType.Push, maxFrameBytes: 100);
        Encoded(framing, new byte[100], default);
        var e = Assert.Throws<FramingException>(() => Encoded(framing, new byte[101], default));
        Assert.Contains("max_frame_bytes=100", e.Message);
    }

    [Fact]
    public void A_pull_encoder_throws()
    {
        Assert.Contains("PULL socket does not send", Assert.Throws<FramingException>(() => Encoded(Pull, [1], default)).Message);
        Assert.Contains("PULL socket does not send", Assert.Throws<FramingException>(() => Pull.GetEncodedLength(1)).Message);
    }

    // ---- Handshake ----

    [Fact]
    public void Start_writes_the_greeting_once()
    {
        var output = new ArrayBufferWriter<byte>();
        var session = Pull.CreateSession(output);
        Assert.False(session.IsEstablished);
        session.Start();
        session.Start();
        Assert.Equal(Written(ZmtpGreeting.Write), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Two_sessions_wired_to_each_other_establish_and_messages_flow()
    {
        var pushEnd = new Endpoint(Push);
        var pullEnd = new Endpoint(Pull);
        pushEnd.Session.Start();
        pullEnd.Session.Start();

        // Each greeting alone brings a READY back, not establishment.
        pullEnd.Receive(pushEnd.TakeOutput());
        pushEnd.Receive(pullEnd.TakeOutput());
        Assert.False(pullEnd.Session.IsEstablished);
        Assert.True(pushEnd.Session.IsEstablished); // it had the pull end's greeting and READY

        Exchange(pushEnd, pullEnd);
        Assert.True(pushEnd.Session.IsEstablished);
        Assert.True(pullEnd.Session.IsEstablished);
        Assert.Empty(pushEnd.Frames);
        Assert.Empty(pullEnd.Frames);

        var sent = new DecodedFrame([1, 2, 3], new FrameFields(Flags: 0x0201, Channel: 3, Error: 4));
        Push.Encode(sent.Payload, sent.Fields, pushEnd.Output);
        Push.Encode([], default, pushEnd.Output);
        Exchange(pushEnd, pullEnd);
        Assert.Equal([sent, new DecodedFrame([], default)], pullEnd.Frames);
        Assert.Null(pullEnd.Closed);
        Assert.Null(pushEnd.Closed);
    }

    [Fact]
    public void The_handshake_completes_at_every_cut_and_READY_follows_the_peer_greeting()
    {
        var stream = PeerHandshake(ZmtpSocketType.Push);
        foreach (var run in AllCuts(Pull, stream, everyCut: true))
        {
            Assert.Null(run.Decode.Closed);
            Assert.True(run.Session.IsEstablished);
            Assert.Equal([.. Written(ZmtpGreeting.Write), .. Written(w => ZmtpCommand.WriteReady(w, ZmtpSocketType.Pull))], run.Output);
        }

        // With the greeting alone: READY is written, the session is not established yet.
        var output = new ArrayBufferWriter<byte>();
        var session = Pull.CreateSession(output);
        session.Start();
        var input = new ReadOnlySequence<byte>(Written(ZmtpGreeting.Write));
        Assert.Equal(DecodeStatus.NeedMoreData, session.Decode(ref input, out _, out _, out _));
        Assert.True(input.IsEmpty);
        Assert.False(session.IsEstablished);
        Assert.Equal(64 + Written(w => ZmtpCommand.WriteReady(w, ZmtpSocketType.Pull)).Length, output.WrittenCount);
    }

    [Fact]
    public void Greeting_READY_and_messages_in_one_read_give_the_first_message_from_the_first_call()
    {
        var stream = Concat(PeerHandshake(ZmtpSocketType.Push), Encoded(Push, [42], default));
        var session = Pull.CreateSession(new ArrayBufferWriter<byte>());
        session.Start();
        var input = new ReadOnlySequence<byte>(stream);
        Assert.Equal(DecodeStatus.Frame, session.Decode(ref input, out var payload, out _, out _));
        Assert.True(session.IsEstablished);
        Assert.Equal(new byte[] { 42 }, payload.ToArray());
        Assert.True(input.IsEmpty);
    }

    [Fact]
    public void A_ZMTP_3_0_peer_is_accepted()
    {
        var greeting = Written(ZmtpGreeting.Write);
        greeting[11] = 0;
        var stream = Concat(greeting, Written(w => ZmtpCommand.WriteReady(w, ZmtpSocketType.Push)), Encoded(Push, [1], default));
        var run = AllCuts(Pull, stream).First();
        Assert.True(run.Session.IsEstablished);
        Assert.Single(run.Decode.Frames);
    }

    [Fact]
    public void A_session_decoding_before_Start_writes_its_greeting_first()
    {
        var output = new ArrayBufferWriter<byte>();
        var session = Pull.CreateSession(output);
        var input = new ReadOnlySequence<byte>(Written(ZmtpGreeting.Write));
        session.Decode(ref input, out _, out _, out _);
        Assert.Equal(Written(ZmtpGreeting.Write), output.WrittenSpan[..64].ToArray());
    }

    [Theory]
    [InlineData(nameof(ZmtpSocketType.Push), nameof(ZmtpSocketType.Push), "PUSH cannot talk to PUSH")]
    [InlineData(nameof(ZmtpSocketType.Pull), nameof(ZmtpSocketType.Pull), "PULL cannot talk to PULL")]
    public void A_peer_of_the_wrong_socket_type_is_refused_with_an_ERROR_command(string localType, string peerType, string reason)
    {
        // Socket types by name: the enum is internal, and a public test method cannot take it.
        var local = Enum.Parse<ZmtpSocketType>(localType);
        var peer = Enum.Parse<ZmtpSocketType>(peerType);
        var framing = new ZmtpFraming(local);
        var stream = Concat(PeerHandshake(peer), Encoded(Push, [1], default));
        foreach (var run in AllCuts(framing, stream, everyCut: true))
        {
            Assert.Equal(FrameErrorKind.Protocol, run.Decode.Closed?.Kind);
            Assert.Contains(reason, run.Decode.Closed?.Detail);
            Assert.False(run.Session.IsEstablished);
            Assert.Empty(run.Decode.Frames);

            // Greeting, READY, then ERROR with the reason.
            var handshake = Concat(Written(ZmtpGreeting.Write), Written(w => ZmtpCommand.WriteReady(w, local)));
            Assert.Equal(handshake, run.Output[..handshake.Length]);
            var command = Command(run.Output[handshake.Length..]);
            Assert.Equal(ZmtpCommandKind.Error, command.Kind);
            Assert.StartsWith("Invalid socket type", command.Reason);
            Assert.Contains(reason, command.Reason);
        }
    }

    [Fact]
    public void Two_PUSH_sessions_refuse_each_other()
    {
        var a = new Endpoint(Push);
        var b = new Endpoint(Push);
        a.Session.Start();
        b.Session.Start();
        Exchange(a, b);
        Assert.Equal(FrameErrorKind.Protocol, a.Closed?.Kind);
        Assert.Equal(FrameErrorKind.Protocol, b.Closed?.Kind);
        Assert.False(a.Session.IsEstablished);
        Assert.False(b.Session.IsEstablished);
    }

    [Fact]
    public void ERROR_instead_of_READY_closes_with_its_reason()
    {
        var stream = Concat(Written(ZmtpGreeting.Write), Written(w => ZmtpCommand.WriteError(w, "go away")));
        foreach (var run in AllCuts(Pull, stream, everyCut: true))
        {
            Assert.Equal(FrameErrorKind.Protocol, run.Decode.Closed?.Kind);
            Assert.Contains("refused the handshake: go away", run.Decode.Closed?.Detail);
        }
    }

    [Theory]
    [InlineData("no socket type")]
    [InlineData("message instead of READY")]
    [InlineData("PING instead of READY")]
    [InlineData("malformed READY")]
    [InlineData("command too large")]
    [InlineData("reserved flags")]
    [InlineData("command with MORE")]
    public void A_broken_handshake_closes(string what)
    {
        byte[] readyBody = [5, .. "READY"u8];
        var frame = what switch
        {
            "no socket type" => Written(w => ZmtpFrame.Write(w, readyBody, more: false, isCommand: true)),
            "message instead of READY" => Encoded(Push, [1], default),
            "PING instead of READY" => Written(w => ZmtpCommand.WritePing(w, 1, "x"u8)),
            "malformed READY" => Written(w => ZmtpFrame.Write(w, [5, .. "READY"u8, 11, .. "Socket-Type"u8, 0, 0, 0, 9, .. "PU"u8], more: false, isCommand: true)),
            "command too large" => [0x06, 0, 0, 0, 0, 0, 1, 0, 1],
            "reserved flags" => [0x80, 0],
            _ => [0x05, 0],
        };
        foreach (var run in AllCuts(Pull, Concat(Written(ZmtpGreeting.Write), frame)))
        {
            Assert.Equal(FrameErrorKind.Protocol, run.Decode.Closed?.Kind);
            Assert.False(run.Session.IsEstablished);
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)]
    [InlineData("\xFF\0\0\0\0\0\0\0\x01\x7E", 10)]                 // ZMTP 1.0 signature
    [InlineData("\xFF\0\0\0\0\0\0\0\x01\x7F\x02\x00NULL", 11)]    // ZMTP 2
    public void Non_ZMTP_bytes_fail_without_waiting_for_64(string text, int failsAfter)
    {
        var bytes = System.Text.Encoding.Latin1.GetBytes(text);
        var run = StageSimulator.Run(Pull, bytes, Chunkings.Ones(bytes.Length), createDecoder: () => Pull.CreateSession(new ArrayBufferWriter<byte>()));
        Assert.Equal(FrameErrorKind.Protocol, run.Closed?.Kind);
        Assert.Equal(failsAfter, run.BytesRead);
    }

    [Fact]
    public void A_mechanism_other_than_NULL_closes()
    {
        var greeting = Written(ZmtpGreeting.Write);
        "PLAIN"u8.CopyTo(greeting.AsSpan(12));
        var run = AllCuts(Pull, greeting).First();
        Assert.Equal(FrameErrorKind.Protocol, run.Decode.Closed?.Kind);
        Assert.Contains("NULL", run.Decode.Closed?.Detail);
    }

    // ---- Commands after the handshake ----

    [Fact]
    public void PING_is_answered_with_PONG_and_delivers_nothing()
    {
        var stream = Concat(
            PeerHandshake(ZmtpSocketType.Push),
            Written(w => ZmtpCommand.WritePing(w, 10, "ctx"u8)),
            Encoded(Push, [7], new FrameFields(Flags: 1)),
            Written(w => ZmtpFrame.Write(w, [4, .. "PING"u8, 0, 1, .. new byte[20]], more: false, isCommand: true)), // a 20-octet context
            Written(w => ZmtpCommand.WritePing(w, 0, ""u8)));
        var pongs = Concat(
            Written(w => ZmtpCommand.WritePong(w, "ctx"u8)),
            Written(w => ZmtpCommand.WritePong(w, new byte[16])),
            Written(w => ZmtpCommand.WritePong(w, ""u8)));
        foreach (var run in AllCuts(Pull, stream, everyCut: true))
        {
            Assert.Null(run.Decode.Closed);
            Assert.Equal([new DecodedFrame([7], new FrameFields(Flags: 1))], run.Decode.Frames);
            Assert.Equal(pongs, run.Output[(64 + ReadyLength(ZmtpSocketType.Pull))..]);
        }
    }

    [Fact]
    public void Unknown_commands_and_PONG_are_ignored()
    {
        var stream = Concat(
            PeerHandshake(ZmtpSocketType.Push),
            Written(w => ZmtpCommand.WritePong(w, "x"u8)),
            Written(w => ZmtpFrame.Write(w, [5, .. "HELLO"u8, 1, 2, 3], more: false, isCommand: true)),
            Written(w => ZmtpFrame.Write(w, [5, .. "READY"u8], more: false, isCommand: true)),
            Written(w => ZmtpFrame.Write(w, new byte[300].With(0, 4), more: false, isCommand: true)), // long command "\0\0\0\0..." name
            Encoded(Push, [1, 2], default));
        var run = AllCuts(Pull, stream).First();
        Assert.Null(run.Decode.Closed);
        Assert.Single(run.Decode.Frames);
    }

    [Fact]
    public void ERROR_from_the_peer_after_the_handshake_closes_with_its_reason()
    {
        var stream = Concat(PeerHandshake(ZmtpSocketType.Push), Encoded(Push, [1], default), Written(w => ZmtpCommand.WriteError(w, "shutting down")), Encoded(Push, [2], default));
        foreach (var run in AllCuts(Pull, stream, everyCut: true))
        {
            Assert.Equal([new DecodedFrame([1], default)], run.Decode.Frames);
            Assert.Equal(FrameErrorKind.Protocol, run.Decode.Closed?.Kind);
            Assert.Equal("the peer sent ERROR: shutting down", run.Decode.Closed?.Detail);
            Assert.True(run.Session.IsEstablished);
        }
    }

    [Fact]
    public void A_command_over_64_KiB_closes_as_soon_as_its_header_is_read()
    {
        byte[] header = [0x06, 0, 0, 0, 0, 0, 1, 0, 1]; // long command of 65537 bytes
        var stream = Concat(PeerHandshake(ZmtpSocketType.Push), header, new byte[100]);
        var run = StageSimulator.Run(Pull, stream, Chunkings.Ones(stream.Length), createDecoder: () => Pull.CreateSession(new ArrayBufferWriter<byte>()));
        Assert.Equal(FrameErrorKind.Protocol, run.Closed?.Kind);
        Assert.Contains("65537", run.Closed?.Detail);
        Assert.Equal(stream.Length - 100, run.BytesRead);

        // 64 KiB exactly is a command like any other.
        var ok = Concat(PeerHandshake(ZmtpSocketType.Push), Written(w => ZmtpFrame.Write(w, new byte[65536].With(0, 1), more: false, isCommand: true)), Encoded(Push, [1], default));
        var okRun = StageSimulator.Run(Pull, ok, Chunkings.Random(ok.Length, 1, 4096), BufferMode.Segmented, createDecoder: () => Pull.CreateSession(new ArrayBufferWriter<byte>()));
        Assert.Null(okRun.Closed);
        Assert.Single(okRun.Frames);
    }

    // ---- Messages ----

    [Fact]
    public void Rogue_messages_round_trip_at_every_cut()
    {
        var rng = new Random(23);
        var messages = new List<DecodedFrame>();
        foreach (var length in new[] { 0, 1, 2, 17, 255, 256, 0, 300, 3 })
            messages.Add(RandomMessage(rng, length));
        var stream = Concat(PeerHandshake(ZmtpSocketType.Push), Encoded(Push, messages));

        foreach (var run in AllCuts(Pull, stream, everyCut: true))
        {
            Assert.Null(run.Decode.Closed);
            Assert.Empty(run.Decode.Skipped);
            Assert.Equal(messages, run.Decode.Frames);
        }
    }

    [Fact]
    public void Large_rogue_messages_round_trip_whatever_the_reads()
    {
        var (messages, _, stream) = LargeStream(new Random(7), [0, 300_000, 1, 255, 256, 65_535, 65_536, 123_457, 0, 300_000]);
        Func<IFrameDecoder> create = () => Pull.CreateSession(new ArrayBufferWriter<byte>());
        foreach (var mode in Enum.GetValues<BufferMode>())
        {
            // Fragmented reads are cut into 1..3-byte segments: with small reads the simulator's own cost explodes.
            foreach (var maxChunk in mode == BufferMode.Fragmented ? [65_536] : new[] { 1500, 65_536 })
            {
                var run = StageSimulator.Run(Pull, stream, Chunkings.Random(stream.Length, maxChunk, maxChunk), mode, createDecoder: create);
                Assert.Null(run.Closed);
                Assert.Equal(messages, run.Frames);
                Assert.True(run.MaxUnconsumed < 300_000, $"{run.MaxUnconsumed} bytes left unconsumed");
            }
        }
    }

    [Fact]
    public void Large_rogue_messages_round_trip_at_every_cut()
    {
        // Two reads cut at every position of a stream of several messages up to 300 KB; the payloads are
        // checked by where they sit in the stream (they are slices of it), so a run costs no copying.
        var (messages, payloadOffsets, stream) = LargeStream(new Random(11), [0, 1, 255, 300_000, 256, 65_536, 0, 17]);
        var output = new ArrayBufferWriter<byte>();
        var memory = stream.AsMemory();
        for (var cut = 1; cut < stream.Length; cut++)
        {
            output.ResetWrittenCount();
            var session = Pull.CreateSession(output);
            session.Start();
            var decoded = 0;

            void DecodeAll(ref ReadOnlySequence<byte> input)
            {
                DecodeStatus status;
                while ((status = session.Decode(ref input, out var payload, out var fields, out _)) == DecodeStatus.Frame)
                {
                    var expected = messages[decoded];
                    Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(payload.First, out var first), $"cut {cut}");
                    Assert.True(payload.Length == expected.Payload.Length && (payload.IsEmpty || first.Offset == payloadOffsets[decoded]) && fields == expected.Fields,
                        $"cut {cut}: message {decoded} decoded as [{payload.Length}] at {first.Offset} {fields}");
                    decoded++;
                }
                Assert.True(status == DecodeStatus.NeedMoreData, $"cut {cut}: {status}");
            }

            var input = new ReadOnlySequence<byte>(memory[..cut]);
            DecodeAll(ref input);
            var consumed = cut - (int)input.Length;
            input = Segments.Build([memory[consumed..cut], memory[cut..]]);
            DecodeAll(ref input);
            Assert.True(input.IsEmpty && decoded == messages.Count, $"cut {cut}: {decoded} messages, {input.Length} bytes left");
        }
    }

    /// <summary>A peer's handshake and Rogue messages of these sizes; where each payload starts in the stream.</summary>
    private static (List<DecodedFrame> Messages, List<int> PayloadOffsets, byte[] Stream) LargeStream(Random rng, int[] lengths)
    {
        var messages = lengths.Select(length => RandomMessage(rng, length)).ToList();
        var parts = new List<byte[]> { PeerHandshake(ZmtpSocketType.Push) };
        var offsets = new List<int>();
        var at = parts[0].Length;
        foreach (var m in messages)
        {
            var bytes = Encoded(Push, m.Payload, m.Fields);
            offsets.Add(at + bytes.Length - m.Payload.Length);
            at += bytes.Length;
            parts.Add(bytes);
        }
        return (messages, offsets, Concat([.. parts]));
    }

    [Fact]
    public void Decoding_allocates_nothing_per_message()
    {
        var messages = Enumerable.Range(0, 2000).Select(i => new DecodedFrame(new byte[i % 700], new FrameFields(Flags: (ushort)i, Channel: (byte)i))).ToList();
        var stream = Encoded(Push, messages);
        var session = Established(Pull, out _);

        void DecodeAll()
        {
            var input = new ReadOnlySequence<byte>(stream);
            while (session.Decode(ref input, out _, out _, out _) == DecodeStatus.Frame)
            {
            }
        }

        DecodeAll(); // warm up
        // The least of three runs: the runtime itself can allocate on this thread once in a while (a method's tier-up, a
        // type loaded for the first time), while one allocation per message would be at least 48 KB in every run.
        var allocated = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            DecodeAll();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(allocated < 500, $"{allocated} bytes allocated decoding {messages.Count} messages (the least of three runs)");
    }

    [Fact]
    public void Payloads_are_slices_of_the_input()
    {
        var stream = Concat(PeerHandshake(ZmtpSocketType.Push), Encoded(Push, [1, 2, 3, 4], default));
        var session = Pull.CreateSession(new ArrayBufferWriter<byte>());
        session.Start();
        var memory = new ReadOnlyMemory<byte>(stream);
        var input = new ReadOnlySequence<byte>(memory);
        Assert.Equal(DecodeStatus.Frame, session.Decode(ref input, out var payload, out _, out _));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(payload.First, out var segment));
        Assert.Same(stream, segment.Array);
        Assert.Equal(stream.Length - 4, segment.Offset);
    }

    public static TheoryData<string, string, FrameErrorKind> Malformed => new()
    {
        { "3 parts", "message of 3 parts, expected 4", FrameErrorKind.BadHeader },
        { "5 parts", "message of 5 parts, expected 4", FrameErrorKind.BadHeader },
        { "1 part", "message of 1 part, expected 4", FrameErrorKind.BadHeader },
        { "part 0 of 3 bytes", "part 0 is 3 bytes, expected 2", FrameErrorKind.BadHeader },
        { "part 1 of 2 bytes", "part 1 is 2 bytes, expected 1", FrameErrorKind.BadHeader },
        { "part 2 empty", "part 2 is 0 bytes, expected 1", FrameErrorKind.BadHeader },
        { "oversize", "a payload of 301 bytes is over max_frame_bytes=300", FrameErrorKind.Oversize },
        { "oversize, long", "a payload of 70000 bytes is over max_frame_bytes=300", FrameErrorKind.Oversize },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_messages_are_skipped_and_the_next_one_decoded(string what, string detail, FrameErrorKind kind)
    {
        var framing = new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: 300);
        var good = new DecodedFrame([1, 2, 3], new FrameFields(Flags: 0x0102, Channel: 3, Error: 4));
        var before = new DecodedFrame(new byte[300], new FrameFields(Flags: 9));
        var stream = Concat(
            PeerHandshake(ZmtpSocketType.Push),
            Encoded(Push, before.Payload, before.Fields),
            BadMessage(what),
            Written(w => ZmtpCommand.WritePing(w, 1, "p"u8)),
            Encoded(Push, good.Payload, good.Fields));

        foreach (var run in AllCuts(framing, stream, everyCut: stream.Length < 2000))
        {
            Assert.Null(run.Decode.Closed);
            Assert.Equal([before, good], run.Decode.Frames);
            var error = Assert.Single(run.Decode.SkippedErrors);
            Assert.Equal(kind, error.Kind);
            Assert.Equal(detail, error.Detail);
            Assert.EndsWith(Convert.ToHexString(Written(w => ZmtpCommand.WritePong(w, "p"u8))), Convert.ToHexString(run.Output));
        }
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void With_on_error_close_a_malformed_message_closes(string what, string detail, FrameErrorKind kind)
    {
        var framing = new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: 300, onError: FrameErrorPolicy.Close);
        var stream = Concat(PeerHandshake(ZmtpSocketType.Push), Encoded(Push, [5], default), BadMessage(what), Encoded(Push, [6], default));
        foreach (var run in AllCuts(framing, stream))
        {
            Assert.Equal([new DecodedFrame([5], default)], run.Decode.Frames);
            Assert.Equal(kind, run.Decode.Closed?.Kind);
            // Too many parts is known before the message ends.
            Assert.Equal(what == "5 parts" ? "message of more than 4 parts, expected 4" : detail, run.Decode.Closed?.Detail);
        }
    }

    [Fact]
    public void With_on_error_close_an_oversize_payload_closes_before_it_arrives()
    {
        var framing = new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: 300, onError: FrameErrorPolicy.Close);
        var handshake = PeerHandshake(ZmtpSocketType.Push);
        var stream = Concat(handshake, BadMessage("oversize, long"));
        var run = StageSimulator.Run(framing, stream, Chunkings.Ones(stream.Length), createDecoder: () => framing.CreateSession(new ArrayBufferWriter<byte>()));
        Assert.Equal(FrameErrorKind.Oversize, run.Closed?.Kind);
        Assert.Equal(handshake.Length + 10 + 9, run.BytesRead);
    }

    [Fact]
    public void A_huge_bad_part_is_dropped_as_it_arrives_never_buffered()
    {
        const long Huge = 100L * 1024 * 1024;
        var framing = new ZmtpFraming(ZmtpSocketType.Pull, maxFrameBytes: 1024);
        var session = Established(framing, out _);
        var header = Written(w => new ZmtpFrameHeader(Huge, more: false, isCommand: false).Write(w));
        var good = Encoded(Push, [1, 2], new FrameFields(Flags: 5));

        var skipped = 0;
        var frames = 0;
        void Feed(byte[] bytes)
        {
            var input = new ReadOnlySequence<byte>(bytes);
            while (true)
            {
                var status = session.Decode(ref input, out _, out _, out var error);
                if (status == DecodeStatus.Skipped)
                {
                    Assert.Equal(FrameErrorKind.Oversize, error.Kind);
                    skipped++;
                }
                else if (status == DecodeStatus.Frame)
                    frames++;
                else
                {
                    Assert.Equal(DecodeStatus.NeedMoreData, status);
                    break;
                }
            }
            Assert.True(input.IsEmpty, $"{input.Length} bytes left unconsumed");
        }

        Feed(Concat(Encoded(Push, [], default)[..10], header));
        var chunk = new byte[1024 * 1024];
        for (long sent = 0; sent < Huge; sent += chunk.Length)
            Feed(chunk);
        Assert.Equal(1, skipped);
        var rest = new ReadOnlySequence<byte>(good);
        Assert.Equal(DecodeStatus.Frame, session.Decode(ref rest, out var payload, out var fields, out _));
        Assert.Equal(new byte[] { 1, 2 }, payload.ToArray());
        Assert.Equal((ushort)5, fields.Flags);
        Assert.Equal(0, frames);
    }

    [Fact]
    public void A_push_session_drops_the_messages_it_receives_and_still_answers_PING()
    {
        var stream = Concat(
            PeerHandshake(ZmtpSocketType.Pull),
            Encoded(Push, [1, 2, 3], default),
            Written(w => ZmtpCommand.WritePing(w, 1, "q"u8)),
            Encoded(Push, new byte[400], default));
        foreach (var run in AllCuts(Push, stream, everyCut: true))
        {
            Assert.Null(run.Decode.Closed);
            Assert.True(run.Session.IsEstablished);
            Assert.Empty(run.Decode.Frames);
            Assert.Equal(2, run.Decode.SkippedErrors.Count);
            Assert.All(run.Decode.SkippedErrors, e => Assert.Contains("PUSH socket does not receive messages", e.Detail));
            Assert.EndsWith(Convert.ToHexString(Written(w => ZmtpCommand.WritePong(w, "q"u8))), Convert.ToHexString(run.Output));
        }

        var closing = new ZmtpFraming(ZmtpSocketType.Push, onError: FrameErrorPolicy.Close);
        var closed = AllCuts(closing, stream).First();
        Assert.Equal(FrameErrorKind.Protocol, closed.Decode.Closed?.Kind);
        Assert.Contains("PUSH socket does not receive messages", closed.Decode.Closed?.Detail);
    }

    [Fact]
    public void Single_mode_delivers_single_part_messages_and_drops_multipart_ones()
    {
        var single = new ZmtpFraming(ZmtpSocketType.Pull, ZmtpMessageFormat.Single, maxFrameBytes: 300);
        var singlePush = new ZmtpFraming(ZmtpSocketType.Push, ZmtpMessageFormat.Single);
        var stream = Concat(
            PeerHandshake(ZmtpSocketType.Push),
            Encoded(singlePush, [], default),
            Encoded(singlePush, new byte[256].With(0, 1), new FrameFields(Flags: 7)), // fields do not travel
            Encoded(Push, [9], new FrameFields(Flags: 1)),                             // a Rogue message: 4 parts
            Encoded(singlePush, [1, 2, 3], default),
            Encoded(singlePush, new byte[301], default),                               // oversize
            Encoded(singlePush, [4], default));
        foreach (var run in AllCuts(single, stream, everyCut: true))
        {
            Assert.Null(run.Decode.Closed);
            Assert.Equal(
                [new DecodedFrame([], default), new DecodedFrame(new byte[256].With(0, 1), default), new DecodedFrame([1, 2, 3], default), new DecodedFrame([4], default)],
                run.Decode.Frames);
            Assert.Equal(
                [new FrameError(FrameErrorKind.BadHeader, "message of 4 parts, expected 1"), new FrameError(FrameErrorKind.Oversize, "a payload of 301 bytes is over max_frame_bytes=300")],
                run.Decode.SkippedErrors);
        }
    }

    // ---- End of stream ----

    [Fact]
    public void The_end_of_the_stream_inside_a_frame_is_truncated_and_between_messages_is_clean()
    {
        var message = Encoded(Push, new byte[300], default);
        var handshake = PeerHandshake(ZmtpSocketType.Push);
        var full = Concat(handshake, message);
        for (var end = 0; end <= full.Length; end++)
        {
            var stream = full[..end];
            var run = StageSimulator.Run(Pull, stream, Chunkings.Whole(stream.Length), createDecoder: () => Pull.CreateSession(new ArrayBufferWriter<byte>()));
            var clean = end is 0 or ZmtpGreeting.Length || end == handshake.Length || end == full.Length; // nothing left over
            Assert.True(clean ? run.Closed is null : run.Closed?.Kind == FrameErrorKind.Truncated, $"ending at {end}: {run.Closed}");
            if (!clean)
                Assert.True(run.ClosedAtEnd);
        }
    }

    // ---- Helpers ----

    private sealed record SessionRun(DecodeRun Decode, IFramingSession Session, byte[] Output);

    /// <summary>
    /// Decodes <paramref name="stream"/> with a new session per run the way the stage does, cut in every
    /// way <see cref="StageSimulator.RunAllCuts"/> cuts it (and, with <paramref name="everyCut"/>, in two
    /// reads at every position), and checks that all runs agree; yields every run with its session's output.
    /// </summary>
    private static IEnumerable<SessionRun> AllCuts(ZmtpFraming framing, byte[] stream, bool everyCut = false)
    {
        var cuts = new List<(int[] Reads, BufferMode Mode, int Seed)> { (Chunkings.Whole(stream.Length), BufferMode.Contiguous, 1) };
        foreach (var mode in Enum.GetValues<BufferMode>())
        {
            cuts.Add((Chunkings.Ones(stream.Length), mode, 1));
            for (var seed = 0; seed < 3; seed++)
                cuts.Add((Chunkings.Random(stream.Length, seed, 7), mode, seed));
        }
        if (everyCut)
        {
            for (var at = 1; at < stream.Length; at++)
                cuts.Add((Chunkings.SplitAt(stream.Length, at), at % 2 == 0 ? BufferMode.Contiguous : BufferMode.Segmented, at));
        }

        SessionRun? reference = null;
        foreach (var (reads, mode, seed) in cuts)
        {
            IFramingSession? session = null;
            var output = new ArrayBufferWriter<byte>();
            var decode = StageSimulator.Run(framing, stream, reads, mode, seed, () =>
            {
                session = framing.CreateSession(output);
                session.Start();
                return session;
            });
            var run = new SessionRun(decode, session!, output.WrittenSpan.ToArray());
            if (reference is null)
                reference = run;
            else
            {
                var cut = $"{mode}, reads {string.Join(",", reads.Take(8))}...";
                Assert.True(reference.Decode.Frames.SequenceEqual(decode.Frames), $"{cut}: frames differ from one read's");
                Assert.Equal(reference.Decode.SkippedErrors, decode.SkippedErrors);
                Assert.Equal(reference.Decode.Closed?.Kind, decode.Closed?.Kind);
                Assert.Equal(reference.Session.IsEstablished, run.Session.IsEstablished);
                Assert.Equal(reference.Output, run.Output);
            }
            yield return run;
        }
    }

    /// <summary>A session that has completed its handshake with a peer of the other socket type.</summary>
    private static IFramingSession Established(ZmtpFraming framing, out ArrayBufferWriter<byte> output)
    {
        output = new ArrayBufferWriter<byte>();
        var session = framing.CreateSession(output);
        session.Start();
        var input = new ReadOnlySequence<byte>(PeerHandshake(framing.SocketType == ZmtpSocketType.Push ? ZmtpSocketType.Pull : ZmtpSocketType.Push));
        Assert.Equal(DecodeStatus.NeedMoreData, session.Decode(ref input, out _, out _, out _));
        Assert.True(session.IsEstablished);
        return session;
    }

    /// <summary>What a peer of this socket type sends first: its greeting and READY.</summary>
    private static byte[] PeerHandshake(ZmtpSocketType peer) =>
        Concat(Written(ZmtpGreeting.Write), Written(w => ZmtpCommand.WriteReady(w, peer)));

    private static int ReadyLength(ZmtpSocketType type) => Written(w => ZmtpCommand.WriteReady(w, type)).Length;

    private static byte[] BadMessage(string what) => Written(w =>
    {
        void Part(byte[] body, bool more) => ZmtpFrame.Write(w, body, more, isCommand: false);
        switch (what)
        {
            case "3 parts":
                Part([1, 0], true); Part([1], true); Part([1], false);
                break;
            case "5 parts":
                Part([1, 0], true); Part([1], true); Part([1], true); Part([9, 9], true); Part([9], false);
                break;
            case "1 part":
                Part(new byte[1000], false);
                break;
            case "part 0 of 3 bytes":
                Part([1, 0, 0], true); Part([1], true); Part([1], true); Part([9, 9], false);
                break;
            case "part 1 of 2 bytes":
                Part([1, 0], true); Part([1, 1], true); Part([1], true); Part([9, 9], false);
                break;
            case "part 2 empty":
                Part([1, 0], true); Part([1], true); Part([], true); Part([9, 9], false);
                break;
            case "oversize":
                Part([1, 0], true); Part([1], true); Part([1], true); Part(new byte[301], false);
                break;
            case "oversize, long":
                Part([1, 0], true); Part([1], true); Part([1], true); Part(new byte[70_000], false);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(what), what);
        }
    });

    private static DecodedFrame RandomMessage(Random rng, int length)
    {
        var payload = new byte[length];
        rng.NextBytes(payload);
        return new DecodedFrame(payload, new FrameFields(Flags: (ushort)rng.Next(0x10000), Channel: (byte)rng.Next(256), Error: (byte)rng.Next(256)));
    }

    private static (ZmtpCommandKind Kind, string Reason) Command(byte[] bytes)
    {
        var input = new ReadOnlySequence<byte>(bytes);
        SequencePosition consumed = input.Start, examined = input.Start;
        Assert.True(ZmtpFrame.TryParse(input, ref consumed, ref examined, 1 << 16, out var frame));
        Assert.True(frame.Header.IsCommand);
        Assert.Equal(bytes.Length, (int)input.Slice(0, consumed).Length);
        var command = ZmtpCommand.Parse(frame.Body.ToArray());
        return (command.Kind, command.ErrorReason);
    }

    private static byte[] Encoded(ZmtpFraming framing, byte[] payload, FrameFields fields)
    {
        var output = new ArrayBufferWriter<byte>();
        framing.Encode(payload, fields, output);
        return output.WrittenSpan.ToArray();
    }

    private static byte[] Encoded(ZmtpFraming framing, IEnumerable<DecodedFrame> messages) =>
        Concat([.. messages.Select(m => Encoded(framing, m.Payload, m.Fields))]);

    private static byte[] Written(Action<IBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return output.WrittenSpan.ToArray();
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Sends each end's output to the other until both are quiet.</summary>
    private static void Exchange(Endpoint a, Endpoint b)
    {
        for (var round = 0; round < 10; round++)
        {
            var fromA = a.TakeOutput();
            var fromB = b.TakeOutput();
            if (fromA.Length == 0 && fromB.Length == 0)
                return;
            b.Receive(fromA);
            a.Receive(fromB);
        }
        Assert.Fail("the sessions keep talking");
    }

    /// <summary>One end of a connection: a session, what it writes, and what it decoded.</summary>
    private sealed class Endpoint
    {
        private byte[] _pending = [];

        public Endpoint(ZmtpFraming framing) => Session = framing.CreateSession(Output);

        public ArrayBufferWriter<byte> Output { get; } = new();

        public IFramingSession Session { get; }

        public List<DecodedFrame> Frames { get; } = [];

        public FrameError? Closed { get; private set; }

        public byte[] TakeOutput()
        {
            var bytes = Output.WrittenSpan.ToArray();
            Output.ResetWrittenCount();
            return bytes;
        }

        public void Receive(byte[] bytes)
        {
            if (Closed is not null)
                return;
            var all = Concat(_pending, bytes);
            var input = new ReadOnlySequence<byte>(all);
            while (true)
            {
                var status = Session.Decode(ref input, out var payload, out var fields, out var error);
                if (status == DecodeStatus.Frame)
                    Frames.Add(new DecodedFrame(payload.ToArray(), fields));
                else if (status == DecodeStatus.Error)
                {
                    Closed = error;
                    return;
                }
                else if (status == DecodeStatus.NeedMoreData)
                    break;
            }
            _pending = input.ToArray();
        }
    }
}

internal static class ByteArrayTestExtensions
{
    /// <summary>The array with one byte set: for payloads that must not be all zeros.</summary>
    public static byte[] With(this byte[] bytes, int index, byte value)
    {
        bytes[index] = value;
        return bytes;
    }
}
