using System.Buffers;
using System.Runtime.InteropServices;

namespace Ferry.Stages.Internal;

/// <summary>
/// What a packet's <see cref="Packet.Payload"/> points at: the slab of one packet group, for as long
/// as that group lives. <see cref="ReadOnlyMemory{T}.Span"/> asks this view every time, so a payload
/// kept past its group throws <see cref="ObjectDisposedException"/> instead of showing the bytes of
/// whatever message the recycled slab holds now. One view per group publication, never reused.
/// </summary>
internal sealed class PayloadView(PacketGroup group) : MemoryManager<byte>
{
    public ReadOnlyMemory<byte> Slice(int offset, int length) => CreateMemory(offset, length);

    public override Span<byte> GetSpan() => group.SlabOrThrow();

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        var slab = group.SlabOrThrow();
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)slab.Length, nameof(elementIndex));
        var handle = GCHandle.Alloc(slab, GCHandleType.Pinned);
        return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle);
    }

    public override void Unpin()
    {
        // The GCHandle in the MemoryHandle is freed when the handle is disposed.
    }

    protected override void Dispose(bool disposing)
    {
        // Nothing to free: the slab belongs to the group's pooled storage.
    }
}
