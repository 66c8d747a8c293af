namespace Ferry.Framing;

/// <summary>
/// Builds a framing from its spec: a name, then <c>key=value</c> settings separated by commas, e.g.
/// <c>lines</c>, <c>u16be</c>, <c>length,bytes=3,endian=little,offset=2,adjust=-4,strip=5</c>,
/// <c>fixed,size=16,max_frame_bytes=64</c>. Every framing accepts <c>max_frame_bytes</c> and
/// <c>on_error=close|skip</c>. Errors quote the spec, name the bad part and list what is allowed.
/// The names come from <see cref="FramingRegistry.Default"/>.
/// </summary>
public static class FramingSpec
{
    /// <summary>The framing names a spec may start with, in order.</summary>
    public static IEnumerable<string> Names => FramingRegistry.Default.Names;

    /// <summary>Builds a framing from <paramref name="spec"/> with the default registry.</summary>
    /// <exception cref="FramingException">The spec is not valid; the message says which part and why.</exception>
    public static IFraming Parse(string spec) => FramingRegistry.Default.Parse(spec);
}
