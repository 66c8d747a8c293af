namespace Ferry.Framing.Internal;

/// <summary>The <c>fixed</c> framing has no header: every frame is the same size.</summary>
internal readonly struct FixedSizeHeader(int size) : IFrameHeader
{
    private readonly int _size = size;

    public int Length => 0;

    public string? Read(ReadOnlySpan<byte> header, out long frameLength, out int payloadOffset, out FrameFields fields)
    {
        fields = default;
        frameLength = _size;
        payloadOffset = 0;
        return null;
    }
}
