using Ferry.Framing;

namespace Ferry.Tests.Framing;

/// <summary>
/// A mistyped framing name gets one line: the name, a "did you mean" for a near miss and the framings there are; the spec is
/// quoted once (it said "framing 'u32eb': unknown framing 'u32eb'"), and before the name only when the spec has settings too.
/// </summary>
public sealed class FramingTypoTests
{
    private const string Allowed = "(allowed: delimiter, fixed, header, length, lines, mux, raw, text-length, u16be, u32be, zmtp)";

    [Theory]
    [InlineData("u32eb", "unknown framing 'u32eb' (did you mean 'u32be'?) " + Allowed)]
    [InlineData("lnies", "unknown framing 'lnies' (did you mean 'lines'?) " + Allowed)]
    [InlineData("Lines", "unknown framing 'Lines' (did you mean 'lines'?) " + Allowed)]
    [InlineData("lenght,bytes=2", "framing 'lenght,bytes=2': unknown framing 'lenght' (did you mean 'length'?) " + Allowed)]
    [InlineData("lenght:u32be", "unknown framing 'lenght:u32be' (did you mean 'u32be'? settings follow the name after ',', e.g. 'length,bytes=4') " + Allowed)]
    [InlineData("nope", "unknown framing 'nope' " + Allowed)]
    public void A_mistyped_name_is_told_the_nearest_framing_once(string spec, string message)
    {
        Assert.Equal(message, Assert.Throws<FramingException>(() => FramingSpec.Parse(spec)).Message);
    }
}
