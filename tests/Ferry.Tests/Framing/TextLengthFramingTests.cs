using System.Buffers;
using System.Text;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class TextLengthFramingTests
{
    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    [Fact]
    public void A_decimal_length_line_then_that_many_bytes()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("text-length"), Bytes("5\nhello0\n2\r\n\n\n007\n{\"a\":1}"));
        Assert.Equal(["hello", "", "\n\n", "{\"a\":1}"], run.Texts);
    }

    [Fact]
    public void Egress_writes_the_length_in_bytes_not_characters()
    {
        var framing = FramingSpec.Parse("text-length");
        var output = new ArrayBufferWriter<byte>();
        var payload = Encoding.UTF8.GetBytes("{\"é\":1}");
        framing.Encoder.Encode(payload, default, output);
        Assert.Equal([.. "8\n"u8, .. payload], output.WrittenSpan.ToArray());
        Assert.Equal(10, framing.Encoder.GetEncodedLength(payload.Length));
        Assert.Equal(1 + 1 + 0, framing.Encoder.GetEncodedLength(0));
        Assert.Equal(7 + 1 + 1_000_000, framing.Encoder.GetEncodedLength(1_000_000));
    }

    [Theory]
    [InlineData("abc\n5\nhello")]
    [InlineData("\n5\nhello")]
    [InlineData("-5\nhello")]
    [InlineData("5x\nhello")]
    [InlineData("5\rx")]
    [InlineData("1234567890123456789\n")] // 19 digits
    public void A_length_line_that_is_not_a_number_is_a_bad_header(string stream)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("text-length"), Bytes(stream));
        Assert.Empty(run.Frames);
        Assert.Equal(FrameErrorKind.BadHeader, run.Closed?.Kind);
        Assert.False(run.ClosedAtEnd);
    }

    [Fact]
    public void A_bad_header_is_reported_before_its_line_ends()
    {
        var framing = FramingSpec.Parse("text-length");
        var stream = Bytes("12x" + new string('y', 10_000));
        var run = StageSimulator.Run(framing, stream, Chunkings.Ones(stream.Length));
        Assert.Equal(FrameErrorKind.BadHeader, run.Closed?.Kind);
        Assert.Equal(3, run.BytesRead);
    }

    [Fact]
    public void With_skip_a_bad_header_line_is_dropped_through_its_newline()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("text-length,on_error=skip"), Bytes("2\nok{garbage line}\n5\nafter"));
        Assert.Equal(["ok", "after"], run.Texts);
        Assert.Equal([FrameErrorKind.BadHeader], run.Skipped);
    }

    [Fact]
    public void An_oversize_length_closes_before_the_body_arrives()
    {
        var framing = FramingSpec.Parse("text-length,max_frame_bytes=10");
        var stream = Bytes("100\n" + new string('x', 100));
        var run = StageSimulator.Run(framing, stream, Chunkings.Ones(stream.Length));
        Assert.Equal(FrameErrorKind.Oversize, run.Closed?.Kind);
        Assert.Equal(4, run.BytesRead);
    }

    [Fact]
    public void With_skip_an_oversize_body_is_skipped_by_its_declared_length()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("text-length,max_frame_bytes=10,on_error=skip"),
            Bytes("2\nok20\n" + new string('\n', 20) + "5\nafter"));
        Assert.Equal(["ok", "after"], run.Texts);
        Assert.Equal([FrameErrorKind.Oversize], run.Skipped);
    }

    [Theory]
    [InlineData("5\nhel")]
    [InlineData("12")]
    [InlineData("12\r")]
    public void A_stream_that_ends_inside_a_frame_is_truncated(string stream)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("text-length"), Bytes(stream));
        Assert.Equal(FrameErrorKind.Truncated, run.Closed?.Kind);
        Assert.True(run.ClosedAtEnd);
    }
}
