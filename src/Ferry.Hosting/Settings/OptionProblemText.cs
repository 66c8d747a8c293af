namespace Ferry.Hosting.Settings;

/// <summary>
/// The text of an options class's own problem ("option 'x': VALUE is not allowed; …") shown at the key a file wrote:
/// the line already carries the key and the value as written, so the value as the options print it goes.
/// </summary>
internal static class OptionProblemText
{
    /// <summary>
    /// <paramref name="rest"/> (the problem after "option 'x': ") without its leading value: <c>'written' </c>, or the typed
    /// value as .NET prints it (<c>00:00:00</c> for a duration written <c>0</c>, <c>Drop</c> for <c>drop</c>) before " is ".
    /// A quoted value other than the one written (one item of a list) stays: it says which item is wrong.
    /// </summary>
    public static string WithoutValue(string rest, string? written)
    {
        if (written is not null)
            foreach (var quoted in new[] { $"'{written}' ", $"'{written.Trim()}' " })
                if (rest.StartsWith(quoted, StringComparison.Ordinal))
                    return rest[quoted.Length..];
        var space = rest.IndexOf(' ', StringComparison.Ordinal);
        return space > 0 && rest[0] != '\'' && rest.AsSpan(space).StartsWith(" is ", StringComparison.Ordinal) ? rest[(space + 1)..] : rest;
    }
}
