namespace Ferry.Nats.Internal;

/// <summary>
/// NATS subjects and subscriptions as token patterns: tokens separated by '.', where '*' stands for any one token and '&gt;', as
/// the last token, for one or more tokens. Two patterns meet when some concrete subject matches both.
/// </summary>
internal static class SubjectPattern
{
    /// <summary>Whether the concrete <paramref name="subject"/> matches <paramref name="pattern"/>.</summary>
    public static bool Matches(string pattern, string subject)
    {
        var parts = pattern.Split('.');
        var tokens = subject.Split('.');
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts[i] == ">")
                return i < tokens.Length;
            if (i >= tokens.Length || (parts[i] != "*" && parts[i] != tokens[i]))
                return false;
        }
        return parts.Length == tokens.Length;
    }

    /// <summary>
    /// A concrete subject both patterns match (literal tokens where either has one, <paramref name="filler"/> where both take any);
    /// null when none does.
    /// </summary>
    public static string? Meeting(string a, string b, string filler = "x")
    {
        var left = a.Split('.');
        var right = b.Split('.');
        var witness = new List<string>();
        for (var i = 0; ; i++)
        {
            var l = i < left.Length ? left[i] : null;
            var r = i < right.Length ? right[i] : null;
            if (l is null && r is null)
                return string.Join('.', witness);
            // '>' takes one token or more: it needs one here, and then takes whatever the other still has.
            if (l == ">" || r == ">")
            {
                if (l is null || r is null)
                    return null;
                var rest = l == ">" ? right : left;
                witness.AddRange(rest.Skip(i).Select(t => t is "*" or ">" ? filler : t));
                return string.Join('.', witness);
            }
            if (l is null || r is null)
                return null;
            if (l == "*")
                witness.Add(r == "*" ? filler : r);
            else if (r == "*" || r == l)
                witness.Add(l);
            else
                return null;
        }
    }
}
