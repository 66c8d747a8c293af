using System.Runtime.CompilerServices;

namespace Ferry.Framing.Internal;

/// <summary>
/// The <c>length</c> framing's header: <c>offset</c> bytes the framing does not interpret, then the
/// length field. A frame is <c>offset + field + value + adjust</c> bytes long and its payload starts
/// <c>strip</c> bytes into it (the geometry of Netty's LengthFieldBasedFrameDecoder).
/// </summary>
internal readonly struct LengthFieldHeader(int offset, int fieldBytes, bool bigEndian, int adjust, int strip) : IFrameHeader
{
    // Anything above this is not a length a stream could carry; keeping far from long.MaxValue also
    // keeps the sums below free of overflow.
    private const ulong ImpossibleLength = long.MaxValue / 4;

    private readonly int _offset = offset;
    private readonly int _fieldBytes = fieldBytes;
    private readonly bool _bigEndian = bigEndian;
    private readonly int _adjust = adjust;
    private readonly int _strip = strip;

    public int Length => _offset + _fieldBytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public string? Read(ReadOnlySpan<byte> header, out long frameLength, out int payloadOffset, out FrameFields fields)
    {
        fields = default;
        payloadOffset = _strip;
        var value = LengthField.Read(header.Slice(_offset, _fieldBytes), _bigEndian);
        if (value > ImpossibleLength)
        {
            frameLength = 0;
            return Impossible(value);
        }

        frameLength = Length + (long)value + _adjust;
        // strip never exceeds the header (checked when the framing is built), so this covers both.
        return frameLength >= Length ? null : InsideHeader(value);
    }

    // The error texts live out of line so that Read stays small enough to inline into the decoder.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string Impossible(ulong value) => $"length field {(long)value} is negative or beyond any possible frame";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private string InsideHeader(ulong value) =>
        $"length field {value} with adjust={_adjust} ends the frame inside its own {Length}-byte header";
}
