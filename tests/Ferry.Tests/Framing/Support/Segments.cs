using System.Buffers;

namespace Ferry.Tests.Framing.Support;

/// <summary>Builds a multi-segment <see cref="ReadOnlySequence{T}"/> from pieces of memory.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Build(IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        if (pieces.Count == 0)
            return ReadOnlySequence<byte>.Empty;
        var first = new Segment(pieces[0], 0);
        var last = first;
        for (var i = 1; i < pieces.Count; i++)
            last = last.Append(pieces[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Cuts <paramref name="bytes"/> into segments of the given sizes (the last takes the rest).</summary>
    public static ReadOnlySequence<byte> Cut(byte[] bytes, IEnumerable<int> sizes)
    {
        var pieces = new List<ReadOnlyMemory<byte>>();
        var at = 0;
        foreach (var size in sizes)
        {
            if (at >= bytes.Length)
                break;
            var n = Math.Min(size, bytes.Length - at);
            pieces.Add(bytes.AsMemory(at, n));
            at += n;
        }
        if (at < bytes.Length)
            pieces.Add(bytes.AsMemory(at));
        return Build(pieces);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
