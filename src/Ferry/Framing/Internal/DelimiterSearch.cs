using System.Buffers;

namespace Ferry.Framing.Internal;

/// <summary>
/// Finds a delimiter of 1..16 bytes in a byte sequence with the vectorised span searches, segment by
/// segment, including a delimiter that starts in one segment and ends in a later one.
/// </summary>
internal static class DelimiterSearch
{
    /// <summary>
    /// The position, counted from the start of <paramref name="sequence"/>, of the first delimiter that
    /// lies wholly inside <c>[start, end)</c>; -1 when there is none.
    /// </summary>
    public static long IndexOf(in ReadOnlySequence<byte> sequence, long start, long end, ReadOnlySpan<byte> delimiter)
    {
        if (end - start < delimiter.Length)
            return -1;

        if (sequence.IsSingleSegment)
        {
            var span = sequence.FirstSpan[(int)start..(int)end];
            var at = delimiter.Length == 1 ? span.IndexOf(delimiter[0]) : span.IndexOf(delimiter);
            return at < 0 ? -1 : start + at;
        }

        var found = IndexOfMultiSegment(sequence.Slice(start, end - start), delimiter);
        return found < 0 ? -1 : start + found;
    }

    private static long IndexOfMultiSegment(in ReadOnlySequence<byte> region, ReadOnlySpan<byte> delimiter)
    {
        long segmentStart = 0;
        var next = region.Start;
        while (region.TryGet(ref next, out var memory))
        {
            var span = memory.Span;
            var at = delimiter.Length == 1 ? span.IndexOf(delimiter[0]) : span.IndexOf(delimiter);
            if (at >= 0)
                return segmentStart + at;

            // No whole delimiter inside this segment. One may still start in its last Length-1 bytes
            // and continue in the following segments; those starts come after every in-segment start,
            // so checking them now keeps the first match first.
            for (var s = Math.Max(0, span.Length - delimiter.Length + 1); s < span.Length; s++)
            {
                var head = span[s..];
                if (head.SequenceEqual(delimiter[..head.Length]) && ContinuesWith(region, next, delimiter[head.Length..]))
                    return segmentStart + s;
            }
            segmentStart += span.Length;
        }
        return -1;
    }

    /// <summary>Whether the bytes of <paramref name="region"/> from <paramref name="position"/> on begin with <paramref name="rest"/>.</summary>
    private static bool ContinuesWith(in ReadOnlySequence<byte> region, SequencePosition position, ReadOnlySpan<byte> rest)
    {
        while (!rest.IsEmpty && region.TryGet(ref position, out var memory))
        {
            var span = memory.Span;
            var n = Math.Min(span.Length, rest.Length);
            if (!span[..n].SequenceEqual(rest[..n]))
                return false;
            rest = rest[n..];
        }
        return rest.IsEmpty;
    }

    /// <summary>Whether <paramref name="sequence"/> begins with <paramref name="delimiter"/> (it must be at least as long).</summary>
    public static bool StartsWith(in ReadOnlySequence<byte> sequence, ReadOnlySpan<byte> delimiter)
    {
        var first = sequence.FirstSpan;
        if (first.Length >= delimiter.Length)
            return first.StartsWith(delimiter);
        return ContinuesWith(sequence, sequence.Start, delimiter);
    }

    /// <summary>The byte at <paramref name="index"/> (which must be inside the sequence).</summary>
    public static byte ByteAt(in ReadOnlySequence<byte> sequence, long index)
    {
        var first = sequence.FirstSpan;
        return index < first.Length ? first[(int)index] : sequence.Slice(index, 1).FirstSpan[0];
    }
}
