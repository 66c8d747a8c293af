namespace Ferry.Nats.Internal;

/// <summary>What a NATS subject token may hold here: letters, digits, '-' and '_' (no wildcards, no spaces).</summary>
internal static class SubjectNames
{
    public static bool IsToken(string text)
    {
        if (text.Length == 0)
            return false;
        foreach (var c in text)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                return false;
        return true;
    }

    public static bool IsSubject(string text)
    {
        if (text.Length == 0)
            return false;
        foreach (var token in text.Split('.'))
            if (!IsToken(token))
                return false;
        return true;
    }
}
