namespace Ferry.Framing;

/// <summary>
/// Parses a framing spec: a name and optional <c>key=value</c> settings separated by commas, e.g.
/// <c>lines</c>, <c>u16be</c>, <c>fixed,size=16,max_frame_bytes=64</c>. Errors name the bad part.
/// </summary>
public static class FramingSpec
{
    public static IFraming Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var parts = spec.Split(',', StringSplitOptions.TrimEntries);
        var name = parts[0];
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < parts.Length; i++)
        {
            var eq = parts[i].IndexOf('=');
            if (eq <= 0)
                throw new FramingException($"framing '{spec}': setting '{parts[i]}' is not key=value");
            settings[parts[i][..eq]] = parts[i][(eq + 1)..];
        }

        int max = RawFraming.DefaultMaxFrameBytes;
        if (settings.Remove("max_frame_bytes", out var m) && (!int.TryParse(m, out max) || max <= 0))
            throw new FramingException($"framing '{spec}': max_frame_bytes '{m}' is not a positive whole number");

        IFraming framing = name switch
        {
            "raw" => new RawFraming(max),
            _ => throw new FramingException($"framing '{spec}': unknown framing '{name}' (allowed: raw)"),
        };
        if (settings.Count > 0)
            throw new FramingException($"framing '{spec}': unknown setting '{settings.Keys.First()}' for {name}");
        return framing;
    }
}
