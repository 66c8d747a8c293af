using System.Buffers;
using System.Runtime.CompilerServices;

namespace Ferry.Framing.Internal;

/// <summary>
/// Decodes every framing whose frames start with a fixed-size header that gives the frame's length.
/// The header is read again on each call until the whole frame is there (a few bytes, cheaper than
/// keeping it), which keeps the only state the count of bytes still to skip after an oversize frame.
/// </summary>
internal sealed class HeaderFrameDecoder<THeader>(THeader header, int maxFrameBytes, FrameErrorPolicy onError) : IFrameDecoder, ISkippingDecoder
    where THeader : struct, IFrameHeader
{
    private const int StackHeaderBytes = 64;

    private readonly THeader _header = header;
    private readonly int _maxFrameBytes = maxFrameBytes;
    private readonly FrameErrorPolicy _onError = onError;

    // Bytes of an oversize frame that on_error=skip is still discarding; they may arrive over many reads.
    private long _skip;

    public bool IsSkipping => _skip > 0;

    public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        payload = default;
        fields = default;
        error = default;
        if (_skip > 0 && !SkipPending(ref input))
            return DecodeStatus.NeedMoreData;

        var headerLength = _header.Length;
        var available = input.Length;
        if (available < headerLength)
            return DecodeStatus.NeedMoreData;

        var first = input.FirstSpan;
        var bad = first.Length >= headerLength
            ? _header.Read(first[..headerLength], out var frameLength, out var payloadOffset, out fields)
            : ReadSplitHeader(input, headerLength, out frameLength, out payloadOffset, out fields);
        if (bad is not null)
        {
            // A length that cannot be trusted leaves no boundary to resynchronise on, whatever the policy.
            error = new FrameError(FrameErrorKind.BadHeader, bad);
            return DecodeStatus.Error;
        }

        var payloadLength = frameLength - payloadOffset;
        if (payloadLength > _maxFrameBytes)
            return Oversize(ref input, frameLength, payloadLength, out error);

        if (available < frameLength)
            return DecodeStatus.NeedMoreData;

        payload = input.Slice(payloadOffset, payloadLength);
        input = input.Slice(payload.End);
        return DecodeStatus.Frame;
    }

    public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        var status = Decode(ref input, out payload, out fields, out error);
        if (status != DecodeStatus.NeedMoreData)
            return status;

        if (_skip > 0)
        {
            // The rest of an oversize frame that was already reported.
            _skip = 0;
            input = input.Slice(input.End);
            return DecodeStatus.NeedMoreData;
        }
        if (input.IsEmpty)
            return DecodeStatus.NeedMoreData;

        error = new FrameError(FrameErrorKind.Truncated, $"the stream ended inside a frame ({input.Length} bytes left)");
        input = input.Slice(input.End);
        return DecodeStatus.Error;
    }

    private DecodeStatus Oversize(ref ReadOnlySequence<byte> input, long frameLength, long payloadLength, out FrameError error)
    {
        error = new FrameError(FrameErrorKind.Oversize, $"a frame of {payloadLength} bytes is over max_frame_bytes={_maxFrameBytes}");
        if (_onError == FrameErrorPolicy.Close)
            return DecodeStatus.Error;

        _skip = frameLength;
        SkipPending(ref input);
        return DecodeStatus.Skipped;
    }

    private bool SkipPending(ref ReadOnlySequence<byte> input)
    {
        var n = Math.Min(_skip, input.Length);
        input = input.Slice(n);
        _skip -= n;
        return _skip == 0;
    }

    // A header split across segments is copied out first; kept out of Decode so the common path has no stackalloc.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private string? ReadSplitHeader(in ReadOnlySequence<byte> input, int headerLength, out long frameLength, out int payloadOffset, out FrameFields fields)
    {
        if (headerLength <= StackHeaderBytes)
        {
            Span<byte> scratch = stackalloc byte[StackHeaderBytes];
            input.Slice(0, headerLength).CopyTo(scratch);
            return _header.Read(scratch[..headerLength], out frameLength, out payloadOffset, out fields);
        }

        var rented = ArrayPool<byte>.Shared.Rent(headerLength);
        try
        {
            input.Slice(0, headerLength).CopyTo(rented);
            return _header.Read(rented.AsSpan(0, headerLength), out frameLength, out payloadOffset, out fields);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
