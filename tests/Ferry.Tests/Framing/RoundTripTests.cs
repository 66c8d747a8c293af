using System.Buffers;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

/// <summary>
/// The key property: random messages, encoded and then delivered in any cut (one read, 1-byte reads,
/// random reads, two reads split at every byte; contiguous or multi-segment buffers), decode to exactly
/// the messages and fields that were sent, with no more than max_frame_bytes + overhead ever buffered.
/// </summary>
public sealed class RoundTripTests
{
    public static TheoryData<string> Specs =>
    [
        "lines",
        "lines,max_frame_bytes=300",
        "lines,include=true,max_frame_bytes=300",
        "lines,eof=error,on_error=skip",
        @"delimiter,delim=\r\n,max_frame_bytes=300",
        @"delimiter,delim=\x03,include=true",
        "delimiter,delim=0x0d0a,max_frame_bytes=100",
        "delimiter,delim=END,max_frame_bytes=300",
        "delimiter,delim=abab,max_frame_bytes=300",
        "delimiter,delim=0123456789abcdef,max_frame_bytes=300",
        @"delimiter,delim=\x02,position=prefix",
        "delimiter,delim=<>,position=prefix,include=true,max_frame_bytes=300",
        "delimiter,delim=aab,position=prefix,max_frame_bytes=300,on_error=skip",
        "length",
        "length,max_frame_bytes=300,on_error=skip",
        "u16be",
        "u32be,max_frame_bytes=300",
        "length,bytes=1",
        "length,bytes=3,endian=little",
        "length,bytes=8,endian=little,max_frame_bytes=300",
        "length,bytes=8",
        "length,adjust=-4",
        "length,bytes=3,endian=little,offset=2,adjust=-4,strip=5",
        "length,bytes=2,offset=2,strip=0,max_frame_bytes=300",
        "length,bytes=2,offset=1,strip=2,adjust=5",
        "fixed,size=1",
        "fixed,size=37",
        "header",
        "header,max_frame_bytes=300,on_error=skip",
        "mux",
        "mux,max_frame_bytes=300",
        "text-length",
        "text-length,max_frame_bytes=300,on_error=skip",
    ];

    [Theory]
    [MemberData(nameof(Specs))]
    public void Any_cut_of_the_stream_decodes_to_the_messages_sent(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        var (stream, expected) = Stream(framing, seed: spec.GetHashCode(StringComparison.Ordinal) & 0xFFFF, count: 40);

        foreach (var mode in Enum.GetValues<BufferMode>())
        {
            Check(framing, stream, expected, Chunkings.Whole(stream.Length), mode, "one read");
            Check(framing, stream, expected, Chunkings.Ones(stream.Length), mode, "1-byte reads");
            for (var seed = 0; seed < 4; seed++)
                Check(framing, stream, expected, Chunkings.Random(stream.Length, seed, maxChunk: 1 + 40 * seed), mode, $"random reads {seed}");
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Two_reads_split_at_every_byte_decode_to_the_messages_sent(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        var (stream, expected) = Stream(framing, seed: 7, count: 12);
        for (var at = 1; at < stream.Length; at++)
        {
            Check(framing, stream, expected, Chunkings.SplitAt(stream.Length, at), BufferMode.Contiguous, $"split at {at}");
            Check(framing, stream, expected, Chunkings.SplitAt(stream.Length, at), BufferMode.Segmented, $"split at {at}");
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void One_read_of_many_tiny_segments_decodes_to_the_messages_sent(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        var (stream, expected) = Stream(framing, seed: 11, count: 30);
        for (var segment = 1; segment <= 5; segment++)
        {
            var decoder = framing.CreateDecoder();
            var input = Segments.Cut(stream, Enumerable.Repeat(segment, stream.Length));
            var frames = new List<DecodedFrame>();
            while (decoder.Decode(ref input, out var payload, out var fields, out _) == DecodeStatus.Frame)
                frames.Add(new DecodedFrame(payload.ToArray(), fields));
            while (decoder.DecodeEnd(ref input, out var payload, out var fields, out _) == DecodeStatus.Frame)
                frames.Add(new DecodedFrame(payload.ToArray(), fields));
            Assert.Equal(expected, frames);
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Canonical_spec_parses_to_the_same_framing(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        Assert.Equal(framing.Spec, FramingSpec.Parse(framing.Spec).Spec);
    }

    private static (byte[] Stream, List<DecodedFrame> Expected) Stream(IFraming framing, int seed, int count)
    {
        var sent = Messages.Generate(framing, new Random(seed), count);
        var stream = Messages.Encode(framing, sent);
        var expected = sent.ConvertAll(m => Messages.Expected(framing, m));
        return (stream, expected);
    }

    private static void Check(IFraming framing, byte[] stream, List<DecodedFrame> expected, int[] reads, BufferMode mode, string cut)
    {
        var run = StageSimulator.Run(framing, stream, reads, mode);
        Assert.True(run.Closed is null, $"{framing.Spec}, {cut}, {mode}: closed with {run.Closed}");
        Assert.Empty(run.Skipped);
        if (!expected.SequenceEqual(run.Frames))
        {
            var first = 0;
            while (first < Math.Min(expected.Count, run.Frames.Count) && expected[first].Equals(run.Frames[first]))
                first++;
            Assert.Fail($"{framing.Spec}, {cut}, {mode}: {run.Frames.Count} frames for {expected.Count} sent; first difference at {first}: " +
                $"expected {(first < expected.Count ? expected[first] : "none")}, got {(first < run.Frames.Count ? run.Frames[first] : "none")}");
        }
    }
}
