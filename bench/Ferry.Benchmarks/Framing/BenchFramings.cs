using System.Buffers;
using Ferry.Framing;

namespace Ferry.Benchmarks.Framing;

/// <summary>The framings the benchmarks measure, by short name, and the inputs they share.</summary>
internal static class BenchFramings
{
    /// <summary>Messages per benchmark invocation: results are per message.</summary>
    public const int Messages = 256;

    /// <summary>A multi-segment input is cut like a pipe's buffer: 4 KiB segments.</summary>
    public const int SegmentSize = 4096;

    public static IFraming Create(string name, int payloadSize) => FramingSpec.Parse(name switch
    {
        "crlf" => @"delimiter,delim=\r\n",
        "fixed" => $"fixed,size={payloadSize}",
        _ => name,
    });

    /// <summary>Letters only, so no framing's delimiter occurs inside.</summary>
    public static byte[] Payload(int size)
    {
        var rng = new Random(42);
        var payload = new byte[size];
        for (var i = 0; i < size; i++)
            payload[i] = (byte)('a' + rng.Next(26));
        return payload;
    }

    public static FrameFields Fields => new(MessageType: 7, Flags: 1, StreamId: 3);

    public static ReadOnlySequence<byte> Sequence(byte[] bytes, bool multiSegment)
    {
        if (!multiSegment)
            return new ReadOnlySequence<byte>(bytes);
        var first = new Segment(bytes.AsMemory(0, Math.Min(SegmentSize, bytes.Length)), 0);
        var last = first;
        for (var at = SegmentSize; at < bytes.Length; at += SegmentSize)
            last = last.Append(bytes.AsMemory(at, Math.Min(SegmentSize, bytes.Length - at)));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
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
