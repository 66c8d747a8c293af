using System.Buffers;
using Ferry.Framing;

namespace Ferry.Tests.Framing;

public sealed class RawFramingTests
{
    [Fact]
    public void Every_input_is_one_packet()
    {
        var input = new ReadOnlySequence<byte>("hello"u8.ToArray());
        var status = RawFraming.Default.CreateDecoder().Decode(ref input, out var payload, out _, out _);
        Assert.Equal(DecodeStatus.Frame, status);
        Assert.Equal("hello"u8.ToArray(), payload.ToArray());
        Assert.True(input.IsEmpty);
    }

    [Fact]
    public void A_receive_above_the_maximum_is_cut_into_maximum_sized_packets()
    {
        var framing = new RawFraming(maxFrameBytes: 4);
        var input = new ReadOnlySequence<byte>("abcdefghij"u8.ToArray());
        var decoder = framing.CreateDecoder();
        var seen = new List<string>();
        while (decoder.Decode(ref input, out var payload, out _, out _) == DecodeStatus.Frame)
            seen.Add(System.Text.Encoding.ASCII.GetString(payload.ToArray()));
        Assert.Equal(["abcd", "efgh", "ij"], seen);
    }
}
