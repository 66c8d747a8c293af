using Ferry.Framing.Internal;

namespace Ferry.Hosting.Settings;

/// <summary>"Did you mean": the closest known word by edit distance, when it is close enough to be a typo (the framing parser's measure).</summary>
internal static class Suggest
{
    /// <summary>The candidate closest to <paramref name="word"/>, or null when none is within a third of its length (at least 2 edits).</summary>
    public static string? Closest(string word, IEnumerable<string> candidates) => NearestWord.Closest(word, candidates);

    /// <summary><c> (did you mean 'x'?)</c>, or an empty string when nothing is close.</summary>
    public static string DidYouMean(string word, IEnumerable<string> candidates)
        => Closest(word, candidates) is { } match ? $" (did you mean '{match}'?)" : "";
}
