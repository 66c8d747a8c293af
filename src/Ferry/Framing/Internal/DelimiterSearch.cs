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

        // Most messages end inside the first segment: search it as one span before walking segments.
        var first = sequence.FirstSpan;
        if (start < first.Length)
        {
            var stop = (int)Math.Min(end, first.Length);
            var at = Search(first[(int)start..stop], delimiter);
            if (at >= 0)
                return start + at;
            if (end <= first.Length)
                return -1;
            // Every start before this one has been ruled out within the first segment.
            start = Math.Max(start, first.Length - delimiter.Length + 1);
        }
        return IndexOfMultiSegment(sequence, start, end, delimiter);
    }

    private static int Search(ReadOnlySpan<byte> span, ReadOnlySpan<byte> delimiter) =>
        delimiter.Length == 1 ? span.IndexOf(delimiter[0]) : span.IndexOf(delimiter);

    // Walks segments from start and stops at end, rather than slicing [start, end) up front: slicing
    // would walk every segment up to end, which for a large window is the whole buffer, on every call.
    private static long IndexOfMultiSegment(in ReadOnlySequence<byte> sequence, long start, long end, ReadOnlySpan<byte> delimiter)
    {
        var next = sequence.GetPosition(start);
        var spanStart = start;
        while (spanStart < end && sequence.TryGet(ref next, out var memory))
        {
            var span = memory.Span;
            if (span.Length > end - spanStart)
                span = span[..(int)(end - spanStart)];
            var at = Search(span, delimiter);
            if (at >= 0)
                return spanStart + at;

            // No whole delimiter inside this span. One may still start in its last Length-1 bytes and
            // continue in the following segments; those starts come after every in-span start, so
            // checking them now keeps the first match first.
            var after = end - (spanStart + span.Length);
            for (var s = Math.Max(0, span.Length - delimiter.Length + 1); s < span.Length; s++)
            {
                var head = span[s..];
                var rest = delimiter[head.Length..];
                if (rest.Length <= after && head.SequenceEqual(delimiter[..head.Length]) && ContinuesWith(sequence, next, rest))
                    return spanStart + s;
            }
            spanStart += span.Length;
        }
        return -1;
    }

    /// <summary>Whether the bytes of <paramref name="sequence"/> from <paramref name="position"/> on begin with <paramref name="rest"/>.</summary>
    private static bool ContinuesWith(in ReadOnlySequence<byte> sequence, SequencePosition position, ReadOnlySpan<byte> rest)
    {
        while (!rest.IsEmpty && sequence.TryGet(ref position, out var memory))
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
