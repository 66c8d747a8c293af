using System.Buffers;
using CsCheck;
using Ferry.Bridge.Zmtp;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

/// <summary>
/// Property tests (CsCheck) over every framing, each with a small <c>max_frame_bytes</c> and both
/// <c>on_error</c> policies, driven through <see cref="StageSimulator"/>, which checks on every call that
/// the decoder returns one of the four statuses, makes progress (a Frame or Skipped consumes input; the
/// loop is bounded), only consumes the front of its input, and never leaves more than
/// <c>MaxFrameBytes + FrameOverheadBytes</c> unconsumed after a read is decoded (the stage's backstop):
/// <list type="bullet">
/// <item>random bytes (rich in each framing's special bytes) at random chunkings and buffer layouts never
/// make a decoder throw or break that contract;</item>
/// <item>random payloads (≤ max_frame_bytes) with random header fields (from <see cref="IFraming.HeaderFields"/>,
/// up to <see cref="FrameField.MaxValue"/>) encode and decode back to the same payloads and fields at any
/// chunking.</item>
/// </list>
/// Bounded for CI: a fixed seed, a fixed number of iterations and one thread per property.
/// </summary>
public sealed class PropertyTests
{
    private const long Iterations = 100;

    /// <summary>A fixed start for every property, so that CI runs the same cases every time.</summary>
    private const string Seed = "0000000000001";

    private const int MaxFrameBytes = 64;

    public static TheoryData<string> Specs =>
    [
        "lines",
        "lines,include=true",
        "lines,eof=error",
        @"delimiter,delim=\r\n",
        @"delimiter,delim=\x03,include=true",
        "delimiter,delim=abab",
        "delimiter,delim=ab,position=prefix",
        "delimiter,delim=<>,position=prefix,include=true",
        "length",
        "length,bytes=1,adjust=-1",
        "length,bytes=3,endian=little,offset=2,adjust=-4,strip=5",
        "length,bytes=2,offset=2,strip=0",
        "length,bytes=2,offset=1,strip=2,adjust=5",
        "length,bytes=8,endian=little,offset=3",
        "length,bytes=8,endian=little,offset=1,strip=0",
        "u16be",
        "u32be",
        "fixed,size=5",
        "header",
        "text-length",
        "mux",
        "zmtp,socket=pull,message=rogue",
        "zmtp,socket=pull,message=single",
    ];

    private static IFraming Framing(string spec, string policy) => FramingSpec.Parse($"{spec},max_frame_bytes={MaxFrameBytes},on_error={policy}");

    private static Func<IFrameDecoder>? SessionFactory(IFraming framing) => framing is ISessionFraming session
        ? () =>
        {
            var s = session.CreateSession(new ArrayBufferWriter<byte>());
            s.Start();
            return s;
        }
        : null;

    // ---- Random bytes ----

    private static ReadOnlySpan<byte> Specials => "\n\r\x03ab<>0123456789\0\x01\x02\x04\xff"u8;

    /// <summary>Bytes that make plausible headers and delimiters: small values, digits, the delimiters' bytes.</summary>
    private static readonly Gen<byte> HostileByte = Gen.Frequency(
        (2, Gen.Byte),
        (2, Gen.Byte[0, 4]),
        (3, Gen.Int[0, Specials.Length - 1].Select(i => Specials[i])));

    private static readonly Gen<byte[]> HostileBytes = HostileByte.Array[0, 700];

    /// <summary>A valid ZMTP handshake from a PUSH peer, so that random bytes reach the message decoder.</summary>
    private static byte[] PeerHandshake()
    {
        var output = new ArrayBufferWriter<byte>();
        ZmtpGreeting.Write(output);
        ZmtpCommand.WriteReady(output, ZmtpSocketType.Push);
        return output.WrittenSpan.ToArray();
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Random_bytes_at_random_chunkings_keep_the_decoder_contract(string spec)
    {
        foreach (var policy in new[] { "close", "skip" })
        {
            var framing = Framing(spec, policy);
            var isSession = framing is ISessionFraming;
            var gen = Gen.Select(HostileBytes, Gen.Int[0, 1 << 20], Gen.Int[1, 120], Gen.Enum<BufferMode>(), Gen.Bool);
            gen.Sample((bytes, chunkSeed, maxChunk, mode, handshake) =>
            {
                byte[] stream = isSession && handshake ? [.. PeerHandshake(), .. bytes] : bytes;
                var run = StageSimulator.Run(framing, stream, Chunkings.Random(stream.Length, chunkSeed, maxChunk), mode, chunkSeed, SessionFactory(framing));
                Assert.True(run.MaxUnconsumed <= framing.MaxFrameBytes + framing.FrameOverheadBytes);
                foreach (var frame in run.Frames)
                    Assert.True(frame.Payload.Length <= framing.MaxFrameBytes + framing.FrameOverheadBytes, $"a {frame.Payload.Length}-byte frame");
            }, seed: Seed, iter: Iterations, threads: 1,
            print: t => $"{framing.Spec}: {Convert.ToHexString(t.Item1)} reads seed {t.Item2} max {t.Item3} {t.Item4} handshake {t.Item5}");
        }
    }

    // ---- Round trips ----

    /// <summary>Random values for the framing's header fields, each from 0 to its MaxValue (often one of the two).</summary>
    private static Gen<FrameFields> Fields(IFraming framing)
    {
        var gen = Gen.Const(FrameFields.None);
        foreach (var field in framing.HeaderFields)
        {
            var value = Gen.Frequency((1, Gen.Const(0UL)), (1, Gen.Const(field.MaxValue)), (3, Gen.ULong.Select(v => field.MaxValue == ulong.MaxValue ? v : v % (field.MaxValue + 1))));
            gen = gen.SelectMany(f => value.Select(v => field.Write(f, v)));
        }
        return gen;
    }

    /// <summary>Random bytes made into a payload the framing can carry, or null when they cannot be (filtered out).</summary>
    private static byte[]? Fit(IFraming framing, byte[] bytes)
    {
        switch (framing)
        {
            case FixedFraming f:
            {
                var payload = new byte[f.Size];
                bytes.AsSpan(0, Math.Min(bytes.Length, f.Size)).CopyTo(payload);
                return payload;
            }
            case DelimiterFraming d:
            {
                var payload = bytes.AsSpan(0, Math.Min(bytes.Length, d.MaxFrameBytes)).ToArray();
                // Break whole delimiters with a byte the delimiter does not contain.
                byte filler = 0;
                while (d.Delimiter.Contains(filler))
                    filler++;
                for (var at = payload.AsSpan().IndexOf(d.Delimiter); at >= 0; at = payload.AsSpan().IndexOf(d.Delimiter))
                    payload[at] = filler;
                byte[] framed = d.Position == DelimiterPosition.Suffix ? [.. payload, .. d.Delimiter] : [.. d.Delimiter, .. payload, .. d.Delimiter];
                if (framed.AsSpan(d.Position == DelimiterPosition.Suffix ? 0 : d.Delimiter.Length).IndexOf(d.Delimiter) != payload.Length)
                    return null; // the payload's end and the delimiter make an earlier delimiter
                if (d.Spec.StartsWith("lines", StringComparison.Ordinal) && payload.Length > 0 && payload[^1] == '\r')
                    payload[^1] = filler; // lines drops a '\r' before the '\n'
                return payload;
            }
            case LengthFieldFraming l:
            {
                var header = l.Offset + l.FieldBytes;
                var fieldMax = l.FieldBytes == 8 ? long.MaxValue : (1L << (8 * l.FieldBytes)) - 1;
                var min = (int)Math.Max(Math.Max(0, header - l.Strip), (long)header + l.Adjust - l.Strip);
                var max = (int)Int128.Min(l.MaxFrameBytes, (Int128)fieldMax + l.Adjust + header - l.Strip);
                if (min > max)
                    return null;
                var payload = new byte[Math.Clamp(bytes.Length, min, max)];
                bytes.AsSpan(0, Math.Min(bytes.Length, payload.Length)).CopyTo(payload);
                return payload;
            }
            default:
                return bytes.AsSpan(0, Math.Min(bytes.Length, framing.MaxFrameBytes)).ToArray();
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Random_messages_round_trip_at_random_chunkings(string spec)
    {
        foreach (var policy in new[] { "close", "skip" })
        {
            var framing = Framing(spec, policy);
            // A session framing's decoder is one end (pull); the messages come from the other (push).
            var sender = framing is ISessionFraming ? FramingSpec.Parse($"{spec.Replace("socket=pull", "socket=push", StringComparison.Ordinal)},max_frame_bytes={MaxFrameBytes}") : framing;
            var message = Gen.Select(HostileByte.Array[0, MaxFrameBytes + 8], Fields(framing))
                .Select((bytes, fields) => (Payload: Fit(framing, bytes), Fields: fields))
                .Where(m => m.Payload is not null)
                .Select(m => new DecodedFrame(m.Payload!, m.Fields));
            var gen = Gen.Select(message.List[0, 12], Gen.Int[0, 1 << 20], Gen.Int[1, 120], Gen.Enum<BufferMode>());
            gen.Sample((messages, chunkSeed, maxChunk, mode) =>
            {
                var output = new ArrayBufferWriter<byte>();
                if (framing is ISessionFraming)
                    output.Write(PeerHandshake());
                foreach (var m in messages)
                {
                    var before = output.WrittenCount;
                    sender.Encoder.Encode(m.Payload, m.Fields, output);
                    Assert.Equal(sender.Encoder.GetEncodedLength(m.Payload.Length), output.WrittenCount - before);
                }
                var stream = output.WrittenSpan.ToArray();
                var expected = framing is ISessionFraming ? messages : messages.ConvertAll(m => Messages.Expected(framing, m));

                var run = StageSimulator.Run(framing, stream, Chunkings.Random(stream.Length, chunkSeed, maxChunk), mode, chunkSeed, SessionFactory(framing));
                Assert.Null(run.Closed);
                Assert.Empty(run.Skipped);
                Assert.Equal(expected, run.Frames);
            }, seed: Seed, iter: Iterations, threads: 1,
            print: t => $"{framing.Spec}: [{string.Join(", ", t.Item1)}] reads seed {t.Item2} max {t.Item3} {t.Item4}");
        }
    }
}
