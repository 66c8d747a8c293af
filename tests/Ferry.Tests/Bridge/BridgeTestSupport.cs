using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ferry.Bridge;

namespace Ferry.Tests.Bridge;

/// <summary>The deterministic frame sequence shared with peers/rogue_peer.py.</summary>
internal static class BridgeFrames
{
    public static Frame Generate(int i, IReadOnlyList<int> sizes)
    {
        int size = sizes[i % sizes.Count];
        var payload = new byte[size];
        for (int k = 0; k < size; k++)
            payload[k] = (byte)((i * 131) + (k % 251) * 7);
        return new Frame(payload, (ushort)((i * 7919 + 0x1234) & 0xFFFF), (byte)((i * 31) & 0xFF), (byte)((i * 17 + 3) & 0xFF));
    }

    public static Frame Random(Random random, int size)
    {
        var payload = new byte[size];
        random.NextBytes(payload);
        return new Frame(payload, (ushort)random.Next(0, 65536), (byte)random.Next(0, 256), (byte)random.Next(0, 256));
    }

    public static void AssertSame(Frame expected, Frame actual, string what)
    {
        Assert.True(expected.Flags == actual.Flags, $"{what}: flags 0x{actual.Flags:X4}, expected 0x{expected.Flags:X4}");
        Assert.True(expected.Channel == actual.Channel, $"{what}: channel {actual.Channel}, expected {expected.Channel}");
        Assert.True(expected.Error == actual.Error, $"{what}: error {actual.Error}, expected {expected.Error}");
        Assert.True(expected.Payload.Length == actual.Payload.Length, $"{what}: {actual.Payload.Length} bytes, expected {expected.Payload.Length}");
        Assert.True(expected.Payload.Span.SequenceEqual(actual.Payload.Span), $"{what}: payload bytes differ");
    }
}

/// <summary>A ReadOnlySequence made of several segments, to parse across segment boundaries.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public static ReadOnlySequence<byte> Split(byte[] bytes, params int[] cuts)
    {
        var bounds = new List<int> { 0 };
        bounds.AddRange(cuts.Where(c => c > 0 && c < bytes.Length).Distinct().Order());
        bounds.Add(bytes.Length);
        Segment first = new(bytes.AsMemory(bounds[0], bounds[1] - bounds[0]));
        Segment last = first;
        for (int b = 1; b + 1 < bounds.Count; b++)
        {
            var next = new Segment(bytes.AsMemory(bounds[b], bounds[b + 1] - bounds[b])) { RunningIndex = bounds[b] };
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}

/// <summary>Bounded waits for tests: everything gives up after a deadline instead of hanging.</summary>
internal static class Deadline
{
    public static CancellationToken In(TimeSpan span) => new CancellationTokenSource(span).Token;

    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
                throw new TimeoutException($"timed out after {timeout} waiting for {what}");
            await Task.Delay(10);
        }
    }
}

/// <summary>A raw peer's reads: exactly so many bytes, or the connection's end said as what it is.</summary>
internal static class PeerReads
{
    public static async Task<byte[]> ExactlyAsync(System.Net.Sockets.Socket socket, int count, CancellationToken cancellationToken)
    {
        var bytes = new byte[count];
        for (var got = 0; got < count;)
        {
            var n = await socket.ReceiveAsync(bytes.AsMemory(got), cancellationToken);
            if (n == 0)
                throw new IOException("the server closed the connection during the handshake");
            got += n;
        }
        return bytes;
    }
}
