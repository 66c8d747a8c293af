using System.Buffers;
using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class FixedFramingTests
{
    [Fact]
    public void Every_message_is_size_bytes()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("fixed,size=3"), "abcdefghi"u8.ToArray());
        Assert.Equal(["abc", "def", "ghi"], run.Texts);
    }

    [Fact]
    public void A_partial_message_at_the_end_is_truncated()
    {
        var run = StageSimulator.RunAllCuts(FramingSpec.Parse("fixed,size=3"), "abcde"u8.ToArray());
        Assert.Equal(["abc"], run.Texts);
        Assert.Equal(FrameErrorKind.Truncated, run.Closed?.Kind);
        Assert.True(run.ClosedAtEnd);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(0)]
    public void Egress_refuses_a_payload_of_another_size(int length)
    {
        var framing = FramingSpec.Parse("fixed,size=3");
        var e = Assert.Throws<FramingException>(() => framing.Encoder.Encode(new byte[length], default, new ArrayBufferWriter<byte>()));
        Assert.Contains("size=3", e.Message);
    }

    [Fact]
    public void Egress_writes_the_payload_as_is()
    {
        var framing = FramingSpec.Parse("fixed,size=3");
        var output = new ArrayBufferWriter<byte>();
        framing.Encoder.Encode("abc"u8, default, output);
        Assert.Equal("abc"u8.ToArray(), output.WrittenSpan.ToArray());
        Assert.Equal(3, framing.Encoder.GetEncodedLength(3));
    }
}
