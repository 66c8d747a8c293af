using System.Buffers;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class LengthFieldFramingTests
{
    private static byte[] Encode(IFraming framing, byte[] payload)
    {
        var output = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode(payload, default, output);
        Assert.Equal(framing.Encoder.GetEncodedLength(payload.Length), output.WrittenCount);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void The_netty_style_example_reads_and_writes_as_documented()
    {
        // offset=2: two bytes the framing ignores; a 3-byte little-endian field counting 4 more than
        // the payload; strip=5 drops the whole header.
        var framing = FramingSpec.Parse("length,bytes=3,endian=little,offset=2,adjust=-4,strip=5");
        byte[] wire = [0xAA, 0xBB, 9, 0, 0, .. "hello"u8];
        var run = StageSimulator.RunAllCuts(framing, wire);
        Assert.Equal(["hello"], run.Texts);

        // Egress writes zeros for the bytes before the length field.
        Assert.Equal([0, 0, 9, 0, 0, .. "hello"u8], Encode(framing, "hello"u8.ToArray()));
    }

    [Fact]
    public void With_strip_0_the_payload_keeps_the_header_and_egress_rewrites_its_length()
    {
        var framing = FramingSpec.Parse("length,bytes=2,strip=0");
        var run = StageSimulator.RunAllCuts(framing, [0, 3, .. "abc"u8]);
        Assert.Equal([[0, 3, .. "abc"u8]], run.Frames.ConvertAll(f => f.Payload));
        Assert.Equal([0, 3, .. "abc"u8], Encode(framing, [0xFF, 0xFF, .. "abc"u8]));
    }

    [Fact]
    public void A_length_that_counts_the_header_is_read_with_a_negative_adjust()
    {
        var framing = FramingSpec.Parse("length,adjust=-4");
        Assert.Equal(["hi", ""], StageSimulator.RunAllCuts(framing, [0, 0, 0, 6, .. "hi"u8, 0, 0, 0, 4]).Texts);
        Assert.Equal([0, 0, 0, 6, .. "hi"u8], Encode(framing, "hi"u8.ToArray()));
    }

    [Fact]
    public void Oversize_is_detected_from_the_header_before_the_payload_arrives()
    {
        var framing = FramingSpec.Parse("u16be,max_frame_bytes=10");
        byte[] wire = [0x03, 0xE8, .. new byte[1000]];
        var run = StageSimulator.Run(framing, wire, Chunkings.Ones(wire.Length));
        Assert.Equal(FrameErrorKind.Oversize, run.Closed?.Kind);
        Assert.Equal(2, run.BytesRead);
    }

    [Fact]
    public void With_skip_an_oversize_frame_is_skipped_by_its_declared_length()
    {
        var framing = FramingSpec.Parse("u16be,max_frame_bytes=10,on_error=skip");
        byte[] wire = [0, 2, .. "ok"u8, 0, 100, .. new byte[100], 0, 5, .. "after"u8];
        var run = StageSimulator.RunAllCuts(framing, wire);
        Assert.Null(run.Closed);
        Assert.Equal(["ok", "after"], run.Texts);
        Assert.Equal([FrameErrorKind.Oversize], run.Skipped);
        Assert.True(run.MaxUnconsumed <= 12);
    }

    [Fact]
    public void A_stream_that_ends_while_skipping_is_not_reported_twice()
    {
        var framing = FramingSpec.Parse("u16be,max_frame_bytes=10,on_error=skip");
        var run = StageSimulator.RunAllCuts(framing, [0, 100, 1, 2, 3]);
        Assert.Null(run.Closed);
        Assert.Equal([FrameErrorKind.Oversize], run.Skipped);
    }

    [Theory]
    [InlineData("length,adjust=-4", new byte[] { 0, 0, 0, 3, 1, 2, 3 })] // ends inside its own header
    [InlineData("length,adjust=-4,on_error=skip", new byte[] { 0, 0, 0, 0 })]
    [InlineData("length,bytes=8", new byte[] { 0x80, 0, 0, 0, 0, 0, 0, 1 })] // negative
    [InlineData("length,bytes=8,endian=little,on_error=skip", new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF })]
    public void An_impossible_length_is_a_bad_header_that_closes_whatever_the_policy(string spec, byte[] wire)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse(spec), wire);
        Assert.Equal(FrameErrorKind.BadHeader, run.Closed?.Kind);
        Assert.Empty(run.Frames);
    }

    [Theory]
    [InlineData(new byte[] { 0, 5, 1, 2, 3 })]
    [InlineData(new byte[] { 0 })]
    public void A_stream_that_ends_inside_a_frame_is_truncated(byte[] wire)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("u16be"), wire);
        Assert.Equal(FrameErrorKind.Truncated, run.Closed?.Kind);
        Assert.True(run.ClosedAtEnd);
    }

    [Fact]
    public void Zero_length_payloads_are_frames()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("u32be"), [0, 0, 0, 0, 0, 0, 0, 1, 7, 0, 0, 0, 0]);
        Assert.Equal([[], [7], []], run.Frames.ConvertAll(f => f.Payload));
    }

    [Theory]
    [InlineData("length,bytes=1", 256)]
    [InlineData("length,bytes=2,adjust=2", 1)] // the field would have to be -1
    [InlineData("u16be,max_frame_bytes=8", 9)]
    [InlineData("length,bytes=2,strip=0", 1)] // shorter than the header it must carry
    public void Egress_refuses_what_the_header_cannot_describe(string spec, int payloadLength)
    {
        var framing = FramingSpec.Parse(spec);
        Assert.Throws<FramingException>(() => framing.Encoder.Encode(new byte[payloadLength], default, new ArrayBufferWriter<byte>()));
    }

    [Theory]
    [InlineData(1, true, new byte[] { 3 })]
    [InlineData(2, true, new byte[] { 0, 3 })]
    [InlineData(2, false, new byte[] { 3, 0 })]
    [InlineData(3, true, new byte[] { 0, 0, 3 })]
    [InlineData(3, false, new byte[] { 3, 0, 0 })]
    [InlineData(4, false, new byte[] { 3, 0, 0, 0 })]
    [InlineData(8, true, new byte[] { 0, 0, 0, 0, 0, 0, 0, 3 })]
    [InlineData(8, false, new byte[] { 3, 0, 0, 0, 0, 0, 0, 0 })]
    public void The_length_field_has_the_configured_size_and_byte_order(int bytes, bool bigEndian, byte[] header)
    {
        var framing = new LengthFieldFraming(bytes, bigEndian);
        Assert.Equal([.. header, .. "abc"u8], Encode(framing, "abc"u8.ToArray()));
    }
}
