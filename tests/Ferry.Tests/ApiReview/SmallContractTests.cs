using Ferry.Bridge;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Tests.ApiReview;

/// <summary>Small contracts of public members that did something else than their documentation or .NET's conventions say.</summary>
public sealed class SmallContractTests
{
    /// <summary>A missing id is a programming error, not a malformed one: <c>int.Parse(null)</c> throws ArgumentNullException too.</summary>
    [Fact]
    public void ConnectionId_Parse_of_null_is_an_argument_null_exception()
    {
        // Before: FormatException "'' is not a connection id", as if an empty string had been given.
        Assert.Equal("text", Assert.Throws<ArgumentNullException>(() => ConnectionId.Parse(null!)).ParamName);
        Assert.Throws<FormatException>(() => ConnectionId.Parse(""));
    }

    /// <summary>
    /// A custom field must lie within the 64 bits of <see cref="FrameFields.Custom"/>. <c>offset + bits &gt; 64</c> wrapped
    /// negative for a huge offset and passed; the shifts then took the offset modulo 64, a field at another bit.
    /// </summary>
    [Theory]
    [InlineData(int.MaxValue, 1)]
    [InlineData(int.MaxValue - 7, 8)]
    [InlineData(64, 1)]
    [InlineData(57, 8)]
    public void FrameField_Custom_refuses_an_offset_past_the_64_bits_however_large(int offset, int bits)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameField.Custom("x", offset, bits));
    }

    [Fact]
    public void FrameField_Custom_takes_the_last_bits()
    {
        var field = FrameField.Custom("x", 56, 8);
        Assert.Equal(0xABUL << 56, field.Write(FrameFields.None, 0xAB).Custom);
    }

    /// <summary>
    /// A frame over <see cref="FrameBridgeOptions.MaxPayloadBytes"/> can never be sent. With no peer connected it used to wait
    /// for one (for ever by default, the send timeout being infinite), and fail only when a peer's connection tried to encode it.
    /// </summary>
    [Fact]
    public async Task A_bridge_send_of_an_oversize_frame_fails_at_once_without_a_peer()
    {
        await using var client = new FrameBridgeClient("127.0.0.1", Support.FreePorts.One(), new FrameBridgeOptions { MaxPayloadBytes = 16 });

        var sending = Record.Exception(() => client.SendAsync(new Frame(new byte[17])));

        var error = Assert.IsType<ArgumentException>(sending);   // before: no exception, a send waiting for a peer
        Assert.Equal("frame", error.ParamName);
        Assert.Contains("its payload of 17 bytes is over MaxPayloadBytes (16)", error.Message);
        Assert.Equal(0, client.Counters.FramesSent);
    }
}
