using System.Buffers;
using System.Text;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class DelimiterFramingTests
{
    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    [Fact]
    public void Lines_end_at_lf_or_crlf_and_drop_the_cr()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("lines"), Bytes("a\nb\r\nc\r\n\n\r\nd\re\n"));
        Assert.Equal(["a", "b", "c", "", "", "d\re"], run.Texts);
    }

    [Fact]
    public void Lines_with_include_keep_the_line_ending_as_received()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("lines,include=true"), Bytes("a\nb\r\n\n"));
        Assert.Equal(["a\n", "b\r\n", "\n"], run.Texts);
    }

    [Fact]
    public void A_multi_byte_delimiter_is_found_across_reads_and_segments()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse(@"delimiter,delim=\r\n"), Bytes("one\r\n\rtwo\n\r\r\n\r\n"));
        Assert.Equal(["one", "\rtwo\n\r", ""], run.Texts);
    }

    [Fact]
    public void A_self_overlapping_delimiter_ends_at_its_first_occurrence()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("delimiter,delim=abab"), Bytes("xabababyabab"));
        Assert.Equal(["x", "aby"], run.Texts);
    }

    [Fact]
    public void What_is_left_at_the_end_is_delivered_by_default()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("lines"), Bytes("a\nlast\r"));
        Assert.Equal(["a", "last"], run.Texts);
        Assert.Null(run.Closed);
    }

    [Fact]
    public void What_is_left_at_the_end_is_truncated_with_eof_error()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("lines,eof=error"), Bytes("a\nlast"));
        Assert.Equal(["a"], run.Texts);
        Assert.Equal(FrameErrorKind.Truncated, run.Closed?.Kind);
        Assert.True(run.ClosedAtEnd);
    }

    [Theory]
    [InlineData("lines,max_frame_bytes=4", "abcd\nabcd\r\n", new[] { "abcd", "abcd" })]
    [InlineData(@"delimiter,delim=\r\n,max_frame_bytes=4", "abcd\r\n", new[] { "abcd" })]
    [InlineData("delimiter,delim=|,position=prefix,max_frame_bytes=4", "|abcd|abcd", new[] { "abcd", "abcd" })]
    // max_frame_bytes counts a line without its line end, also when the line end is kept (include=true).
    [InlineData("lines,include=true,max_frame_bytes=4", "abcd\nabcd\r\nabcd\r", new[] { "abcd\n", "abcd\r\n", "abcd\r" })]
    public void A_message_of_exactly_the_maximum_is_accepted(string spec, string stream, string[] expected)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse(spec), Bytes(stream));
        Assert.Null(run.Closed);
        Assert.Equal(expected, run.Texts);
    }

    [Theory]
    [InlineData("lines,max_frame_bytes=4", "abcde\n")]
    [InlineData("lines,max_frame_bytes=4", "abcde\r\n")]
    [InlineData(@"delimiter,delim=\r\n,max_frame_bytes=4", "abcde\r\n")]
    [InlineData("delimiter,delim=|,position=prefix,max_frame_bytes=4", "|abcde|")]
    [InlineData("lines,max_frame_bytes=4", "abcdef")] // at the end of the stream
    [InlineData("delimiter,delim=|,position=prefix,max_frame_bytes=4", "|abcde")]
    [InlineData("lines,include=true,max_frame_bytes=4", "abcde\r\n")]
    [InlineData("lines,include=true,max_frame_bytes=4", "abcd\r\r\n")]
    public void A_message_over_the_maximum_closes_the_connection(string spec, string stream)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse(spec), Bytes(stream));
        Assert.Empty(run.Frames);
        Assert.Equal(FrameErrorKind.Oversize, run.Closed?.Kind);
    }

    [Theory]
    [InlineData("lines,max_frame_bytes=8")]
    [InlineData(@"delimiter,delim=\r\n,max_frame_bytes=8")]
    [InlineData("delimiter,delim=0123456789abcdef,max_frame_bytes=8")]
    [InlineData("delimiter,delim=<>,position=prefix,max_frame_bytes=8")]
    public void An_endless_message_is_caught_once_max_plus_delimiter_bytes_are_buffered(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        var stream = new byte[100_000];
        stream.AsSpan().Fill((byte)'x');
        if (framing is DelimiterFraming { Position: DelimiterPosition.Prefix } d)
            d.Delimiter.CopyTo(stream);

        var run = StageSimulator.Run(framing, stream, Chunkings.Ones(stream.Length));
        Assert.Equal(FrameErrorKind.Oversize, run.Closed?.Kind);
        Assert.True(run.BytesRead <= framing.MaxFrameBytes + framing.FrameOverheadBytes, $"read {run.BytesRead} bytes before the error");
    }

    [Theory]
    [InlineData("lines,max_frame_bytes=8,on_error=skip", "ok\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nafter\n")]
    [InlineData("lines,max_frame_bytes=8,on_error=skip", "ok\nxxxxxxxxx\nafter")]
    [InlineData("lines,max_frame_bytes=8,on_error=skip", "ok\nxxxxxxxx\r\r\nafter\n")]
    [InlineData(@"delimiter,delim=\r\n,max_frame_bytes=8,on_error=skip", "ok\r\nxxxxxxxxxxxxxxxxxxxx\rxxxxxxxx\r\nafter\r\n")]
    [InlineData("delimiter,delim=abc,max_frame_bytes=5,on_error=skip", "okabcxxxxxxabxxxxxxxababcafterabc")]
    [InlineData("delimiter,delim=<>,position=prefix,max_frame_bytes=5,on_error=skip", "<>ok<>xxxxxxxxxxxx<xxx><>after")]
    public void With_skip_an_oversize_message_is_dropped_up_to_the_next_delimiter(string spec, string stream)
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse(spec), Bytes(stream));
        Assert.Null(run.Closed);
        Assert.Equal(["ok", "after"], run.Texts);
        Assert.Equal([FrameErrorKind.Oversize], run.Skipped);
    }

    [Fact]
    public void With_skip_an_endless_message_keeps_almost_nothing_buffered()
    {
        var framing = FramingSpec.Parse(@"delimiter,delim=\r\n,max_frame_bytes=16,on_error=skip");
        var stream = Bytes(new string('x', 10_000) + "\r\nafter\r\n");
        var run = StageSimulator.Run(framing, stream, Chunkings.Random(stream.Length, 3, 50), BufferMode.Segmented);
        Assert.Equal(["after"], run.Texts);
        Assert.Equal([FrameErrorKind.Oversize], run.Skipped);
        Assert.True(run.MaxUnconsumed <= 16 + 2);
    }

    [Fact]
    public void With_prefix_bytes_before_the_first_delimiter_are_a_bad_header()
    {
        var close = StageSimulator.RunAllCuts(FramingSpec.Parse(@"delimiter,delim=\x02,position=prefix"), Bytes("junk\u0002a\u0002b"));
        Assert.Empty(close.Frames);
        Assert.Equal(FrameErrorKind.BadHeader, close.Closed?.Kind);

        var skip = StageSimulator.RunAllCuts(FramingSpec.Parse(@"delimiter,delim=\x02,position=prefix,on_error=skip"), Bytes("junk\u0002a\u0002b"));
        Assert.Equal(["a", "b"], skip.Texts);
        Assert.Equal([FrameErrorKind.BadHeader], skip.Skipped);
    }

    [Fact]
    public void With_prefix_the_last_message_ends_with_the_stream()
    {
        var deliver = StageSimulator.RunAllCuts(FramingSpec.Parse("delimiter,delim=<>,position=prefix"), Bytes("<><>a<>bc"));
        Assert.Equal(["", "a", "bc"], deliver.Texts);

        var error = StageSimulator.RunAllCuts(FramingSpec.Parse("delimiter,delim=<>,position=prefix,eof=error"), Bytes("<><>a<>bc"));
        Assert.Equal(["", "a"], error.Texts);
        Assert.Equal(FrameErrorKind.Truncated, error.Closed?.Kind);

        // A last byte that could begin a delimiter is the message's: the stream ended, nothing followed.
        var partial = StageSimulator.RunAllCuts(FramingSpec.Parse("delimiter,delim=<>,position=prefix"), Bytes("<>a<"));
        Assert.Equal(["a<"], partial.Texts);

        var tooShort = StageSimulator.RunAllCuts(FramingSpec.Parse("delimiter,delim=<>,position=prefix"), Bytes("<"));
        Assert.Empty(tooShort.Texts);
        Assert.Equal(FrameErrorKind.Truncated, tooShort.Closed?.Kind);
    }

    [Theory]
    [InlineData("lines", "hi", "hi\n")]
    [InlineData("lines,append=false", "hi\r\n", "hi\r\n")]
    [InlineData(@"delimiter,delim=\r\n", "hi", "hi\r\n")]
    [InlineData(@"delimiter,delim=\x02,position=prefix", "hi", "\x02hi")]
    [InlineData(@"delimiter,delim=\x02,position=prefix,append=false", "hi", "hi")]
    [InlineData("lines", "", "\n")]
    public void Egress_adds_the_delimiter_where_it_belongs(string spec, string payload, string wire)
    {
        var framing = FramingSpec.Parse(spec);
        var output = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode(Bytes(payload), default, output);
        Assert.Equal(wire, Encoding.Latin1.GetString(output.WrittenSpan));
        Assert.Equal(wire.Length, framing.Encoder.GetEncodedLength(payload.Length));
    }

    [Fact]
    public void Egress_refuses_a_payload_over_the_maximum()
    {
        var framing = FramingSpec.Parse("lines,max_frame_bytes=4");
        var output = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode(Bytes("abcd"), default, output);
        var e = Assert.Throws<FramingException>(() => framing.Encoder.Encode(Bytes("abcde"), default, output));
        Assert.Contains("max_frame_bytes=4", e.Message);
    }
}
