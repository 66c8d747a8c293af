using System.Buffers;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class MuxFramingTests
{
    [Fact]
    public void The_stream_id_travels_with_the_payload()
    {
        var framing = FramingSpec.Parse("mux");
        var output = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode("{}"u8, new FrameFields(StreamId: MuxFraming.ControlStream), output);
        framing.Encoder.Encode("data"u8, new FrameFields(MessageType: 9, StreamId: uint.MaxValue), output);
        byte[] wire = [0, 0, 0, 0, 0, 0, 0, 2, .. "{}"u8, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 4, .. "data"u8];
        Assert.Equal(wire, output.WrittenSpan.ToArray());

        var run = StageSimulator.RunAllCuts(framing, wire);
        Assert.Equal(
            [new DecodedFrame("{}"u8.ToArray(), new FrameFields(StreamId: 0)), new DecodedFrame("data"u8.ToArray(), new FrameFields(StreamId: uint.MaxValue))],
            run.Frames);
    }

    [Fact]
    public void Oversize_closes_or_is_skipped_by_policy()
    {
        byte[] wire = [0, 0, 0, 1, 0, 0, 0, 5, .. "12345"u8, 0, 0, 0, 2, 0, 0, 0, 1, (byte)'k'];
        Assert.Equal(FrameErrorKind.Oversize, StageSimulator.RunAllCuts(FramingSpec.Parse("mux,max_frame_bytes=4"), wire).Closed?.Kind);

        var skip = StageSimulator.RunAllCuts(FramingSpec.Parse("mux,max_frame_bytes=4,on_error=skip"), wire);
        Assert.Equal([new DecodedFrame("k"u8.ToArray(), new FrameFields(StreamId: 2))], skip.Frames);
        Assert.Equal([FrameErrorKind.Oversize], skip.Skipped);
    }
}
