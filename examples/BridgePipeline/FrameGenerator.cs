using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Ferry.Bridge;

namespace BridgePipeline;

/// <summary>
/// The hardware's <c>src</c>: a stream master producing <see cref="Count"/> frames, the same ones for
/// the same seed. Frame <c>i</c> starts with <c>i</c> (u32 little-endian) followed by seeded bytes,
/// 4 to <see cref="MaxBytes"/> in all, on channel <c>i % 4</c>, with first-user and last-user flags
/// set from <c>i</c>.
/// </summary>
public sealed class FrameGenerator(int count, int maxBytes, int seed) : IFrameSource
{
    /// <summary>Frames produced.</summary>
    public int Count { get; } = count;

    /// <summary>Largest payload.</summary>
    public int MaxBytes { get; } = Math.Max(4, maxBytes);

    /// <summary>Frame <paramref name="index"/>.</summary>
    public Frame Make(int index)
    {
        var random = new Random(HashCode.Combine(seed, index));
        var payload = new byte[random.Next(4, MaxBytes + 1)];
        random.NextBytes(payload);
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)index);
        return new Frame(payload, Frame.ComposeFlags(firstUser: (byte)index, lastUser: (byte)(index >> 8)), channel: (byte)(index % 4));
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<Frame> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return Make(i);
        }
        await Task.CompletedTask;
    }
}
