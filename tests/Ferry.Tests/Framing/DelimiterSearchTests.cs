using Ferry.Framing.Internal;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

public sealed class DelimiterSearchTests
{
    [Fact]
    public void Finds_the_first_delimiter_in_a_window_however_the_bytes_are_segmented()
    {
        var rng = new Random(5);
        for (var round = 0; round < 2000; round++)
        {
            var delimiter = new byte[rng.Next(1, 6)];
            for (var i = 0; i < delimiter.Length; i++)
                delimiter[i] = (byte)rng.Next(3);
            var bytes = new byte[rng.Next(0, 60)];
            for (var i = 0; i < bytes.Length; i++)
                bytes[i] = (byte)rng.Next(4);
            var start = rng.Next(0, bytes.Length + 1);
            var end = rng.Next(start, bytes.Length + 1);

            var naive = bytes.AsSpan(start, end - start).IndexOf(delimiter);
            long expected = naive < 0 ? -1 : start + naive;

            var sizes = Enumerable.Range(0, bytes.Length + 1).Select(_ => rng.Next(1, 5)).ToArray();
            var sequence = Segments.Cut(bytes, sizes);
            Assert.Equal(expected, DelimiterSearch.IndexOf(sequence, start, end, delimiter));
            Assert.Equal(expected, DelimiterSearch.IndexOf(new System.Buffers.ReadOnlySequence<byte>(bytes), start, end, delimiter));
        }
    }
}
