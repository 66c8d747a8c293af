namespace Ferry.Tests.Framing.Support;

/// <summary>Ways to cut a byte stream into reads, as a socket might deliver it.</summary>
internal static class Chunkings
{
    public static int[] Whole(int length) => [Math.Max(length, 1)];

    public static int[] Ones(int length) => Enumerable.Repeat(1, Math.Max(length, 1)).ToArray();

    public static int[] SplitAt(int length, int at) => at <= 0 || at >= length ? [Math.Max(length, 1)] : [at, length - at];

    public static int[] Random(int length, int seed, int maxChunk)
    {
        var rng = new Random(seed);
        var sizes = new List<int>();
        for (var total = 0; total < length;)
        {
            var n = rng.Next(1, maxChunk + 1);
            sizes.Add(n);
            total += n;
        }
        return sizes.Count == 0 ? [1] : sizes.ToArray();
    }
}
