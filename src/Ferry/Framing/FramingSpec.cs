using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// Builds a framing from its spec: a name, then <c>key=value</c> settings separated by commas, e.g.
/// <c>lines</c>, <c>u16be</c>, <c>length,bytes=3,endian=little,offset=2,adjust=-4,strip=5</c>,
/// <c>fixed,size=16,max_frame_bytes=64</c>. Every framing accepts <c>max_frame_bytes</c> and
/// <c>on_error=close|skip</c>. Errors quote the spec, name the bad part and list what is allowed.
/// </summary>
public static class FramingSpec
{
    // Adding a framing: one class with an internal static Create(FramingSettings), and one line here.
    private static readonly SortedDictionary<string, Func<FramingSettings, IFraming>> Registry = new(StringComparer.Ordinal)
    {
        ["raw"] = RawFraming.Create,
        ["lines"] = DelimiterFraming.CreateLines,
        ["delimiter"] = DelimiterFraming.Create,
        ["length"] = LengthFieldFraming.Create,
        ["u16be"] = LengthFieldFraming.CreateU16,
        ["u32be"] = LengthFieldFraming.CreateU32,
        ["fixed"] = FixedFraming.Create,
        ["header"] = HeaderFraming.Create,
        ["text-length"] = TextLengthFraming.Create,
        ["mux"] = MuxFraming.Create,
        ["zmtp"] = Bridge.Zmtp.ZmtpFraming.Create,
    };

    /// <summary>The framing names a spec may start with, in order.</summary>
    public static IEnumerable<string> Names => Registry.Keys;

    /// <exception cref="FramingException">The spec is not valid; the message says which part and why.</exception>
    public static IFraming Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var settings = FramingSettings.Parse(spec);
        if (!Registry.TryGetValue(settings.Name, out var create))
            throw settings.Error($"unknown framing '{settings.Name}' (allowed: {string.Join(", ", Registry.Keys)})");

        IFraming framing;
        try
        {
            framing = create(settings);
        }
        catch (FramingException e) when (!e.Message.StartsWith("framing '", StringComparison.Ordinal))
        {
            // A constructor's own check: give it the spec's context like every other error.
            throw settings.Error(e.Message);
        }
        settings.EnsureAllUsed();
        return framing;
    }
}
