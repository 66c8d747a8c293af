using System.Buffers;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class HeaderFramingTests
{
    [Fact]
    public void Type_and_flags_travel_with_the_payload_as_seed_002_writes_them()
    {
        var framing = FramingSpec.Parse("header");
        var output = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode("pong"u8, new FrameFields(MessageType: 0x02, Flags: 0x8001), output);
        byte[] wire = [0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x80, 0x01, .. "pong"u8];
        Assert.Equal(wire, output.WrittenSpan.ToArray());

        var run = StageSimulator.RunAllCuts(framing, [.. wire, 0x00, 0x10, 0, 0, 0, 0, 0, 0]);
        Assert.Equal(
            [new DecodedFrame("pong"u8.ToArray(), new FrameFields(2, 0x8001)), new DecodedFrame([], new FrameFields(0x10))],
            run.Frames);
    }

    [Fact]
    public void Oversize_closes_as_soon_as_the_header_is_read()
    {
        var framing = FramingSpec.Parse("header");
        byte[] wire = [0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1, 2, 3];
        var run = StageSimulator.Run(framing, wire, Chunkings.Ones(wire.Length));
        Assert.Equal(FrameErrorKind.Oversize, run.Closed?.Kind);
        Assert.Equal(8, run.BytesRead);
    }

    [Fact]
    public void With_skip_an_oversize_frame_is_skipped_and_decoding_goes_on()
    {
        var framing = FramingSpec.Parse("header,max_frame_bytes=4,on_error=skip");
        byte[] wire = [0, 1, 0, 0, 0, 9, 0, 0, .. "toolarge!"u8, 0, 2, 0, 0, 0, 2, 0, 3, .. "ok"u8];
        var run = StageSimulator.RunAllCuts(framing, wire);
        Assert.Equal([new DecodedFrame("ok"u8.ToArray(), new FrameFields(2, 3))], run.Frames);
        Assert.Equal([FrameErrorKind.Oversize], run.Skipped);
    }

    [Fact]
    public void A_stream_that_ends_inside_a_header_or_payload_is_truncated()
    {
        Assert.Equal(FrameErrorKind.Truncated, StageSimulator.RunAllCuts(FramingSpec.Parse("header"), [0, 1, 0]).Closed?.Kind);
        Assert.Equal(FrameErrorKind.Truncated, StageSimulator.RunAllCuts(FramingSpec.Parse("header"), [0, 1, 0, 0, 0, 3, 0, 0, 1]).Closed?.Kind);
    }
}
