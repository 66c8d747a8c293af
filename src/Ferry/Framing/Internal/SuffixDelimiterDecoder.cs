using System.Buffers;

namespace Ferry.Framing.Internal;

/// <summary>
/// Decodes messages that each end with a delimiter. Remembers how far it has searched, so a long
/// message arriving in many reads is scanned once, and searches no further than a message of
/// max_frame_bytes could reach, so an endless line is caught after max_frame_bytes + delimiter bytes.
/// </summary>
internal sealed class SuffixDelimiterDecoder : IFrameDecoder, ISkippingDecoder
{
    private readonly byte[] _delimiter;
    private readonly bool _include;
    // lines: a '\r' before the '\n' is part of the line end: never counted against max_frame_bytes, and
    // dropped from the payload unless the line end is kept (include=true).
    private readonly bool _lineEnds;
    private readonly bool _deliverAtEnd;
    private readonly int _maxFrameBytes;
    private readonly FrameErrorPolicy _onError;

    // The search window: a delimiter that starts later than this cannot close a message within the maximum.
    private readonly long _window;

    // Bytes at the front of the input at which no delimiter starts: the next search begins there.
    private long _scanned;

    // on_error=skip: the rest of an oversize message is being dropped up to its delimiter.
    private bool _discarding;

    public bool IsSkipping => _discarding;

    public SuffixDelimiterDecoder(byte[] delimiter, bool include, bool stripCarriageReturn, bool deliverAtEnd, int maxFrameBytes, FrameErrorPolicy onError)
    {
        _delimiter = delimiter;
        _include = include;
        _lineEnds = stripCarriageReturn;
        _deliverAtEnd = deliverAtEnd;
        _maxFrameBytes = maxFrameBytes;
        _onError = onError;
        // A "\r\n" line may put one more byte before its '\n' than the maximum allows in the payload.
        _window = (long)maxFrameBytes + delimiter.Length + (stripCarriageReturn ? 1 : 0);
    }

    public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        payload = default;
        fields = default;
        error = default;
        ReadOnlySpan<byte> delimiter = _delimiter;
        if (_discarding && !Discard(ref input, delimiter))
            return DecodeStatus.NeedMoreData;

        var searchEnd = Math.Min(input.Length, _window);
        var at = DelimiterSearch.IndexOf(input, _scanned, searchEnd, delimiter);
        if (at < 0)
        {
            if (searchEnd < _window)
            {
                _scanned = Math.Max(0, searchEnd - delimiter.Length + 1);
                return DecodeStatus.NeedMoreData;
            }
            return Oversize(ref input, searchEnd, searchEnd, out error);
        }

        var end = at + delimiter.Length;
        var contentLength = _lineEnds && at > 0 && DelimiterSearch.ByteAt(input, at - 1) == '\r' ? at - 1 : at;
        if (contentLength > _maxFrameBytes)
            return Oversize(ref input, contentLength, end, out error);

        payload = input.Slice(0, _include ? end : contentLength);
        input = input.Slice(end);
        _scanned = 0;
        return DecodeStatus.Frame;
    }

    public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        var status = Decode(ref input, out payload, out fields, out error);
        if (status != DecodeStatus.NeedMoreData)
            return status;

        _scanned = 0;
        if (_discarding)
        {
            // The tail of an oversize message that was already reported.
            _discarding = false;
            input = input.Slice(input.End);
            return DecodeStatus.NeedMoreData;
        }
        if (input.IsEmpty)
            return DecodeStatus.NeedMoreData;

        var length = input.Length;
        if (!_deliverAtEnd)
        {
            error = new FrameError(FrameErrorKind.Truncated, $"the stream ended with {length} bytes and no delimiter after them");
            input = input.Slice(input.End);
            return DecodeStatus.Error;
        }

        var contentLength = _lineEnds && DelimiterSearch.ByteAt(input, length - 1) == '\r' ? length - 1 : length;
        if (contentLength > _maxFrameBytes)
        {
            error = OversizeError(contentLength);
            input = input.Slice(input.End);
            return _onError == FrameErrorPolicy.Skip ? DecodeStatus.Skipped : DecodeStatus.Error;
        }

        payload = input.Slice(0, _include ? length : contentLength);
        input = input.Slice(input.End);
        return DecodeStatus.Frame;
    }

    // size: what is known of the message's size (at least this many bytes); drop: bytes at the front
    // that belong to the message and can go when skipping (past its delimiter when one was found).
    private DecodeStatus Oversize(ref ReadOnlySequence<byte> input, long size, long drop, out FrameError error)
    {
        error = OversizeError(size);
        _scanned = 0;
        if (_onError == FrameErrorPolicy.Close)
            return DecodeStatus.Error;

        var foundDelimiter = drop > size;
        if (!foundDelimiter)
        {
            // Keep what could be the start of a delimiter split across this read and the next one.
            drop -= _delimiter.Length - 1;
            _discarding = true;
        }
        input = input.Slice(drop);
        return DecodeStatus.Skipped;
    }

    private bool Discard(ref ReadOnlySequence<byte> input, ReadOnlySpan<byte> delimiter)
    {
        var at = DelimiterSearch.IndexOf(input, 0, input.Length, delimiter);
        if (at < 0)
        {
            input = input.Slice(Math.Max(0, input.Length - (delimiter.Length - 1)));
            return false;
        }
        input = input.Slice(at + delimiter.Length);
        _discarding = false;
        return true;
    }

    private FrameError OversizeError(long size) =>
        new(FrameErrorKind.Oversize, $"a message of {size} bytes or more is over max_frame_bytes={_maxFrameBytes}");
}
