namespace Ferry.Hosting.Settings;

/// <summary>
/// How the user spells keys (<c>max_connections</c>, <c>MaxConnections</c>, <c>maxConnections</c>, <c>max-connections</c>):
/// keys are matched whatever the spelling (<see cref="SettingEntries.Normalize"/>), so a "did you mean" or an allowed-key
/// list in snake_case told a .NET user with PascalCase appsettings.json to write a spelling unlike the rest of the file.
/// Messages name keys in the spelling of the key the user wrote, or of its neighbours when that one word does not say.
/// </summary>
internal sealed class KeySpelling
{
    private enum Style { Snake, Kebab, Pascal, Camel }

    private readonly Style _style;

    private KeySpelling(Style style) => _style = style;

    /// <summary>The ferry's own spelling (snake_case): the keys unchanged.</summary>
    public static readonly KeySpelling Snake = new(Style.Snake);

    /// <summary>The spelling of <paramref name="written"/>, else of the first of <paramref name="neighbours"/> that shows one, else snake_case.</summary>
    public static KeySpelling Of(string written, IEnumerable<string> neighbours)
        => new(StyleOf(written) ?? neighbours.Select(StyleOf).FirstOrDefault(s => s is not null) ?? Style.Snake);

    /// <summary>The spelling of the first of <paramref name="keys"/> that shows one, else <paramref name="outer"/>'s (the enclosing block's), else snake_case.</summary>
    public static KeySpelling Of(IEnumerable<string> keys, KeySpelling? outer = null)
        => keys.Select(StyleOf).FirstOrDefault(s => s is not null) is { } style ? new(style) : outer ?? Snake;

    /// <summary>Each of <paramref name="keys"/> in this spelling, joined with ", " (an allowed-key list, the keys a block sets).</summary>
    public string List(IEnumerable<string> keys) => string.Join(", ", Say(keys));

    /// <summary><paramref name="key"/> (snake_case) in this spelling: <c>max_connections</c> as <c>MaxConnections</c>.</summary>
    public string Say(string key) => _style switch
    {
        Style.Kebab => key.Replace('_', '-'),
        Style.Pascal => string.Concat(key.Split('_').Select(Capital)),
        Style.Camel => key.Split('_') is var words ? words[0] + string.Concat(words.Skip(1).Select(Capital)) : key,
        _ => key,
    };

    /// <summary>A dotted key (<c>tls.ca_certificate_pem</c>) in this spelling, each part as the user would write it (<c>Tls.CaCertificatePem</c>).</summary>
    public string SayPath(string key) => string.Join('.', key.Split('.').Select(Say));

    /// <summary>Each of <paramref name="keys"/> in this spelling.</summary>
    public IReadOnlyList<string> Say(IEnumerable<string> keys) => keys.Select(Say).ToList();

    /// <summary>A word that is all small letters (bind, tls) shows no spelling: it is the same in snake_case and camelCase.</summary>
    private static Style? StyleOf(string key)
    {
        if (key.Contains('_'))
            return Style.Snake;
        if (key.Contains('-'))
            return Style.Kebab;
        if (key.Length > 0 && char.IsUpper(key[0]))
            return Style.Pascal;
        return key.Any(char.IsUpper) ? Style.Camel : null;
    }

    private static string Capital(string word) => word.Length == 0 ? word : char.ToUpperInvariant(word[0]) + word[1..];
}
