namespace Ferry.Framing.Internal;

/// <summary>
/// "Did you mean": the known word nearest to a typo by edit distance. In the core library so that the framing spec parser
/// (<c>u32eb</c>, <c>lnies</c>) and the configuration readers' keys (Ferry.Hosting's <c>Suggest</c>) judge a near miss alike.
/// </summary>
internal static class NearestWord
{
    /// <summary>The candidate closest to <paramref name="word"/>, or null when none is within a third of its length (at least 2 edits).</summary>
    public static string? Closest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(word.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return bestDistance <= Math.Max(2, word.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
            previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
