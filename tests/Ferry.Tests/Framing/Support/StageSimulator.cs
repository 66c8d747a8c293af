using System.Buffers;
using Ferry.Framing;

namespace Ferry.Tests.Framing.Support;

/// <summary>How the simulated stage holds the bytes it has not consumed yet.</summary>
internal enum BufferMode
{
    /// <summary>Unconsumed bytes and the new read are copied into one fresh array (single segment).</summary>
    Contiguous,

    /// <summary>Each read stays its own segment, kept until consumed, like a pipe's buffer (multi-segment).</summary>
    Segmented,

    /// <summary>Like <see cref="Segmented"/>, but every read is itself cut into 1..3-byte segments.</summary>
    Fragmented,
}

internal sealed record DecodedFrame(byte[] Payload, FrameFields Fields)
{
    public bool Equals(DecodedFrame? other) => other is not null && Payload.AsSpan().SequenceEqual(other.Payload) && Fields == other.Fields;

    public override int GetHashCode() => Payload.Length;

    public override string ToString() => $"[{Payload.Length}] {Convert.ToHexString(Payload.AsSpan(0, Math.Min(Payload.Length, 24)))} {Fields}";
}

internal sealed class DecodeRun
{
    public List<DecodedFrame> Frames { get; } = [];

    /// <summary>Errors counted with on_error=skip (status Skipped), in order.</summary>
    public List<FrameErrorKind> Skipped { get; } = [];

    /// <summary>The same errors with their details.</summary>
    public List<FrameError> SkippedErrors { get; } = [];

    /// <summary>The error that closed the connection, if one did.</summary>
    public FrameError? Closed { get; set; }

    /// <summary>Whether <see cref="Closed"/> came from DecodeEnd rather than Decode.</summary>
    public bool ClosedAtEnd { get; set; }

    /// <summary>The most bytes left unconsumed after a receive was decoded.</summary>
    public long MaxUnconsumed { get; set; }

    /// <summary>Bytes received when the connection was closed by an error (or all of them).</summary>
    public long BytesRead { get; set; }

    /// <summary>The payloads as text, for readable assertions.</summary>
    public List<string> Texts => Frames.ConvertAll(f => System.Text.Encoding.Latin1.GetString(f.Payload));
}

/// <summary>
/// Drives a decoder the way the server stage does: per receive it builds a sequence over every
/// unconsumed byte plus the new read, calls Decode until NeedMoreData or Error, copies each payload out
/// at once, keeps what was not consumed; at the end of the stream it calls DecodeEnd while it returns
/// frames. It checks the decoder's side of the contract as it goes.
/// </summary>
internal static class StageSimulator
{
    /// <summary>Runs <paramref name="stream"/> through every way of cutting it and buffering it, and checks
    /// that all of them decode alike; returns the result of one read.</summary>
    public static DecodeRun RunAllCuts(IFraming framing, byte[] stream)
    {
        var reference = Run(framing, stream, Chunkings.Whole(stream.Length));
        foreach (var mode in Enum.GetValues<BufferMode>())
        {
            Same(reference, Run(framing, stream, Chunkings.Ones(stream.Length), mode), $"1-byte reads, {mode}");
            Same(reference, Run(framing, stream, Chunkings.Whole(stream.Length), mode), $"one read, {mode}");
            for (var seed = 0; seed < 3; seed++)
                Same(reference, Run(framing, stream, Chunkings.Random(stream.Length, seed, 7), mode, seed), $"random reads {seed}, {mode}");
        }
        return reference;
    }

    private static void Same(DecodeRun expected, DecodeRun actual, string cut)
    {
        Assert.True(expected.Frames.SequenceEqual(actual.Frames), $"{cut}: frames differ from one read's");
        Assert.Equal(expected.Skipped, actual.Skipped);
        Assert.Equal(expected.Closed?.Kind, actual.Closed?.Kind);
    }

    /// <param name="createDecoder">Makes the decoder instead of <see cref="IFraming.CreateDecoder"/> (a session framing's session).</param>
    public static DecodeRun Run(IFraming framing, byte[] stream, IReadOnlyList<int> reads, BufferMode mode = BufferMode.Contiguous, int seed = 1,
        Func<IFrameDecoder>? createDecoder = null)
    {
        var decoder = createDecoder is null ? framing.CreateDecoder() : createDecoder();
        var run = new DecodeRun();
        var rng = new Random(seed);
        var pending = new List<ReadOnlyMemory<byte>>(); // unconsumed bytes, as segments
        var backstop = (long)framing.MaxFrameBytes + framing.FrameOverheadBytes;
        var position = 0;

        foreach (var size in reads)
        {
            if (position >= stream.Length)
                break;
            var n = Math.Min(size, stream.Length - position);
            // A fresh copy per read: the decoder must not rely on memory it was given in an earlier call.
            var read = stream.AsMemory(position, n).ToArray();
            position += n;
            Append(pending, read, mode, rng);

            var input = Build(pending, mode);
            var status = DecodeLoop(decoder, ref input, run, atEnd: false);
            Keep(pending, input, mode);
            if (status == DecodeStatus.Error)
            {
                run.BytesRead = position;
                return run;
            }

            var unconsumed = Length(pending);
            run.MaxUnconsumed = Math.Max(run.MaxUnconsumed, unconsumed);
            Assert.True(unconsumed <= backstop,
                $"{framing.Spec}: NeedMoreData with {unconsumed} bytes buffered, over max_frame_bytes + overhead = {backstop}");
        }

        var rest = Build(pending, mode);
        DecodeLoop(decoder, ref rest, run, atEnd: true);
        run.BytesRead = position;
        return run;
    }

    private static DecodeStatus DecodeLoop(IFrameDecoder decoder, ref ReadOnlySequence<byte> input, DecodeRun run, bool atEnd)
    {
        var end = input.End;
        for (var guard = 0; ; guard++)
        {
            Assert.True(guard < 10_000_000, "the decoder does not make progress");
            var before = input.Length;
            var status = atEnd
                ? decoder.DecodeEnd(ref input, out var payload, out var fields, out var error)
                : decoder.Decode(ref input, out payload, out fields, out error);

            Assert.True(input.Length <= before, "the decoder grew its input");
            Assert.Equal(end, input.End); // only the front may be consumed
            switch (status)
            {
                case DecodeStatus.Frame:
                    Assert.Equal(FrameErrorKind.None, error.Kind);
                    Assert.True(input.Length < before, "a frame consumed no input");
                    run.Frames.Add(new DecodedFrame(payload.ToArray(), fields));
                    break;
                case DecodeStatus.Skipped:
                    Assert.NotEqual(FrameErrorKind.None, error.Kind);
                    Assert.False(string.IsNullOrEmpty(error.Detail));
                    run.Skipped.Add(error.Kind);
                    run.SkippedErrors.Add(error);
                    if (atEnd)
                        return status;
                    Assert.True(input.Length < before, "a skip consumed no input");
                    break;
                case DecodeStatus.Error:
                    Assert.NotEqual(FrameErrorKind.None, error.Kind);
                    Assert.False(string.IsNullOrEmpty(error.Detail));
                    run.Closed = error;
                    run.ClosedAtEnd = atEnd;
                    return status;
                case DecodeStatus.NeedMoreData:
                    Assert.True(payload.IsEmpty);
                    return status;
                default:
                    Assert.Fail($"unknown status {status}");
                    break;
            }
        }
    }

    private static void Append(List<ReadOnlyMemory<byte>> pending, byte[] read, BufferMode mode, Random rng)
    {
        if (mode != BufferMode.Fragmented)
        {
            pending.Add(read);
            return;
        }
        for (var at = 0; at < read.Length;)
        {
            var n = Math.Min(rng.Next(1, 4), read.Length - at);
            pending.Add(read.AsMemory(at, n));
            at += n;
        }
    }

    private static ReadOnlySequence<byte> Build(List<ReadOnlyMemory<byte>> pending, BufferMode mode)
    {
        if (mode != BufferMode.Contiguous)
            return Segments.Build(pending);

        var all = new byte[Length(pending)];
        var at = 0;
        foreach (var piece in pending)
        {
            piece.Span.CopyTo(all.AsSpan(at));
            at += piece.Length;
        }
        return new ReadOnlySequence<byte>(all);
    }

    /// <summary>Keeps the bytes from <paramref name="rest"/>'s start on (the decoder consumed the others).</summary>
    private static void Keep(List<ReadOnlyMemory<byte>> pending, ReadOnlySequence<byte> rest, BufferMode mode)
    {
        var kept = new List<ReadOnlyMemory<byte>>();
        foreach (var memory in rest)
        {
            if (!memory.IsEmpty)
                kept.Add(memory);
        }
        pending.Clear();
        if (mode == BufferMode.Contiguous && kept.Count > 0)
        {
            // Poison the old buffer so a decoder that kept a reference into it would see garbage.
            var copy = rest.ToArray();
            foreach (var memory in kept)
                System.Runtime.InteropServices.MemoryMarshal.AsMemory(memory).Span.Fill(0xEE);
            pending.Add(copy);
            return;
        }
        pending.AddRange(kept);
    }

    private static long Length(List<ReadOnlyMemory<byte>> pending)
    {
        long n = 0;
        foreach (var piece in pending)
            n += piece.Length;
        return n;
    }
}
