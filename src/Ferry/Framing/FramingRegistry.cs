namespace Ferry.Framing;

/// <summary>
/// The framings a spec string may name, each with the factory that builds it from its settings.
/// <see cref="Default"/> holds Ferry's framings; the folders and assemblies that define more add
/// theirs (the frame bridge adds <c>zmtp</c>), so the framing layer depends on none of them.
/// </summary>
public sealed class FramingRegistry
{
    private readonly SortedDictionary<string, Func<FramingSettings, IFraming>> _factories = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>The registry <see cref="FramingSpec.Parse"/> uses: Ferry's own framings and whatever was added to it.</summary>
    public static FramingRegistry Default { get; } = CreateWithBuiltIns();

    private static FramingRegistry CreateWithBuiltIns()
    {
        var registry = new FramingRegistry();
        registry.Add("raw", RawFraming.Create);
        registry.Add("lines", DelimiterFraming.CreateLines);
        registry.Add("delimiter", DelimiterFraming.Create);
        registry.Add("length", LengthFieldFraming.Create);
        registry.Add("u16be", LengthFieldFraming.CreateU16);
        registry.Add("u32be", LengthFieldFraming.CreateU32);
        registry.Add("fixed", FixedFraming.Create);
        registry.Add("header", HeaderFraming.Create);
        registry.Add("text-length", TextLengthFraming.Create);
        registry.Add("mux", MuxFraming.Create);
        return registry;
    }

    /// <summary>The framing names a spec may start with, in order.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_lock)
                return [.. _factories.Keys];
        }
    }

    /// <summary>Adds a framing under <paramref name="name"/>; the factory reads its settings and throws <see cref="FramingException"/> (via <see cref="FramingSettings.Bad"/>) for bad ones.</summary>
    /// <exception cref="ArgumentException">The name is empty, not a plain word, or already taken by another factory.</exception>
    public void Add(string name, Func<FramingSettings, IFraming> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (name.AsSpan().IndexOfAny(",= ") >= 0)
            throw new ArgumentException($"a framing name is one word without ',', '=' or spaces (got '{name}')", nameof(name));
        lock (_lock)
        {
            if (_factories.TryGetValue(name, out var existing) && existing != factory)
                throw new ArgumentException($"a framing named '{name}' is already registered", nameof(name));
            _factories[name] = factory;
        }
    }

    /// <summary>
    /// "unknown framing 'u32eb' (did you mean 'u32be'?) (allowed: …)": the spec is quoted once (it said "framing 'u32eb': unknown
    /// framing 'u32eb'"), and again before the name only when it has settings too. A name of several words (<c>lenght:u32be</c>)
    /// is told the framing one of its words names, or is nearest to, and that settings follow the name after ','.
    /// </summary>
    private static FramingException Unknown(string spec, string name, IReadOnlyList<string> names)
    {
        var words = name.Split([':', ';', ' ', '/', '.', '|'], StringSplitOptions.RemoveEmptyEntries);
        var near = Internal.NearestWord.Closest(name, names)
            ?? words.FirstOrDefault(w => names.Contains(w, StringComparer.Ordinal))
            ?? words.Select(w => Internal.NearestWord.Closest(w, names)).FirstOrDefault(w => w is not null);
        var hint = near is null ? "" : words.Length > 1 ? $" (did you mean '{near}'? settings follow the name after ',', e.g. 'length,bytes=4')" : $" (did you mean '{near}'?)";
        var what = $"unknown framing '{name}'{hint} (allowed: {string.Join(", ", names)})";
        return new FramingException(spec.Trim() == name ? what : $"framing '{spec}': {what}");
    }

    /// <summary>Builds a framing from its spec, e.g. <c>lines</c> or <c>length,bytes=3,endian=little</c>.</summary>
    /// <exception cref="FramingException">The spec is not valid (the message says which part and why), also when its factory
    /// throws an <see cref="ArgumentException"/> (kept as the inner exception) or returns null.</exception>
    public IFraming Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var settings = FramingSettings.Parse(spec);
        Func<FramingSettings, IFraming>? create;
        lock (_lock)
            _factories.TryGetValue(settings.Name, out create);
        if (create is null)
            throw Unknown(spec, settings.Name, Names);

        IFraming? framing;
        try
        {
            framing = create(settings);
        }
        catch (FramingException e) when (!e.Message.StartsWith("framing '", StringComparison.Ordinal))
        {
            // A constructor's own check: give it the spec's context like every other error.
            throw settings.Error(e.Message);
        }
        catch (ArgumentException e)
        {
            // An application's factory that checks a setting with an argument guard (ArgumentOutOfRangeException from its
            // framing's constructor): still a bad spec, so the FramingException every caller of Parse handles (the hosts
            // report it as a configuration problem), quoting the spec; the original stays inside.
            throw new FramingException(settings.Error(e.Message).Message, e);
        }
        // A factory that returns null would hand the stage a framing that fails on its first connection, far from here.
        if (framing is null)
            throw settings.Error($"the factory registered for '{settings.Name}' returned no framing (null)");
        settings.EnsureAllUsed();
        return framing;
    }
}
