using System.Globalization;

namespace Ferry.Framing;

/// <summary>
/// A parsed spec, <c>name,key=value,...</c>, handed to a framing's factory. The factory takes the
/// settings it knows; whatever is left afterwards is an unknown setting. Every key a factory asks for
/// is remembered, so the error for an unknown key can list what that framing allows without each
/// framing declaring its keys twice. A framing registered in a <see cref="FramingRegistry"/> reads its
/// settings from it in its factory.
/// </summary>
public sealed class FramingSettings
{
    private readonly string _spec;
    private readonly Dictionary<string, string> _values;
    private readonly List<string> _allowed = [];

    private FramingSettings(string spec, string name, Dictionary<string, string> values)
    {
        _spec = spec;
        Name = name;
        _values = values;
    }

    /// <summary>The framing name the spec starts with.</summary>
    public string Name { get; }

    internal static FramingSettings Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new FramingException("framing spec is empty: expected a framing name such as 'lines' or 'length,bytes=2'");

        // Trimming lets people write "length, bytes=2"; a delimiter that is a space is written \x20.
        var parts = spec.Split(',', StringSplitOptions.TrimEntries);
        var name = parts[0];
        if (name.Length == 0 || name.Contains('='))
            throw new FramingException($"framing '{spec}': '{name}' is not a framing name; a spec starts with one, e.g. 'length,bytes=2'");

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part.Length == 0)
                throw new FramingException($"framing '{spec}': empty setting (two commas in a row or a trailing comma)");
            var eq = part.IndexOf('=');
            if (eq <= 0)
                throw new FramingException($"framing '{spec}': setting '{part}' is not key=value");
            var key = part[..eq].TrimEnd();
            if (!values.TryAdd(key, part[(eq + 1)..].TrimStart()))
                throw new FramingException($"framing '{spec}': setting '{key}' is given twice");
        }
        return new FramingSettings(spec, name, values);
    }

    /// <summary>The raw text of a setting, or null when the spec does not give it.</summary>
    public string? Text(string key)
    {
        _allowed.Add(key);
        return _values.Remove(key, out var value) ? value : null;
    }

    /// <summary>A whole-number setting from <paramref name="min"/> to <paramref name="max"/>, or <paramref name="defaultValue"/> when not given.</summary>
    public int Int(string key, int defaultValue, int min, int max)
    {
        var text = Text(key);
        return text is null ? defaultValue : ParseInt(key, text, min, max);
    }

    /// <summary>A whole-number setting the spec must give.</summary>
    public int RequiredInt(string key, int min, int max)
    {
        var text = Text(key) ?? throw Error($"setting '{key}' is required for {Name} (e.g. {Name},{key}={Math.Max(min, 1)})");
        return ParseInt(key, text, min, max);
    }

    /// <summary>A <c>true</c>/<c>false</c> setting, or <paramref name="defaultValue"/> when not given.</summary>
    public bool Bool(string key, bool defaultValue) => Text(key) switch
    {
        null => defaultValue,
        "true" => true,
        "false" => false,
        var text => throw Bad(key, text, "must be true or false"),
    };

    /// <summary>A setting whose value is one of a few words; <paramref name="choices"/> alternates word and value.</summary>
    public T Choice<T>(string key, T defaultValue, params ReadOnlySpan<(string Word, T Value)> choices)
    {
        var text = Text(key);
        if (text is null)
            return defaultValue;
        foreach (var (word, value) in choices)
        {
            if (text == word)
                return value;
        }
        var words = new string[choices.Length];
        for (var i = 0; i < choices.Length; i++)
            words[i] = choices[i].Word;
        throw Bad(key, text, $"must be {string.Join(" or ", words)}");
    }

    /// <summary>The two settings every framing accepts; factories read them last so "allowed" lists read naturally.
    /// A framing whose errors are usually skippable (<c>zmtp</c>) passes its own <paramref name="defaultOnError"/>.</summary>
    public (int MaxFrameBytes, FrameErrorPolicy OnError) Common(FrameErrorPolicy defaultOnError = FrameErrorPolicy.Close) =>
        (Int("max_frame_bytes", FramingDefaults.MaxFrameBytes, 1, int.MaxValue),
         Choice("on_error", defaultOnError, ("close", FrameErrorPolicy.Close), ("skip", FrameErrorPolicy.Skip)));

    internal void EnsureAllUsed()
    {
        foreach (var key in _values.Keys)
            throw Error($"unknown setting '{key}' for {Name} (allowed: {string.Join(", ", _allowed)})");
    }

    /// <summary>The error for a setting whose value cannot be used, quoting the spec.</summary>
    public FramingException Bad(string key, string value, string why) => Error($"{key}={value}: {why}");

    /// <summary>An error about this spec, quoting it.</summary>
    public FramingException Error(string message) => new($"framing '{_spec}': {message}");

    private int ParseInt(string key, string text, int min, int max)
    {
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw Bad(key, text, $"must be a whole number from {min} to {max}");
        return value;
    }
}
