using System.Buffers;

namespace Ferry.Framing.Internal;

/// <summary>
/// Decodes messages that each start with a delimiter: a message runs from its delimiter to the start
/// of the next one, so it is complete only when the next delimiter (or the end of the stream) arrives.
/// Bytes before the first delimiter belong to no message and are a <see cref="FrameErrorKind.BadHeader"/>.
/// </summary>
internal sealed class PrefixDelimiterDecoder(byte[] delimiter, bool include, bool deliverAtEnd, int maxFrameBytes, FrameErrorPolicy onError)
    : IFrameDecoder, ISkippingDecoder
{
    private readonly byte[] _delimiter = delimiter;
    private readonly bool _include = include;
    private readonly bool _deliverAtEnd = deliverAtEnd;
    private readonly int _maxFrameBytes = maxFrameBytes;
    private readonly FrameErrorPolicy _onError = onError;

    // The next delimiter must start within the maximum payload after the message's own delimiter.
    private readonly long _window = (long)delimiter.Length + maxFrameBytes + delimiter.Length;

    // Bytes at the front of the input at which no next delimiter starts: the next search begins there.
    private long _scanned;

    // on_error=skip: dropping bytes until a delimiter starts a new message.
    private bool _discarding;

    public bool IsSkipping => _discarding;

    public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        payload = default;
        fields = default;
        error = default;
        ReadOnlySpan<byte> delimiter = _delimiter;
        if (_discarding && !Discard(ref input, delimiter, from: 0))
            return DecodeStatus.NeedMoreData;

        var length = input.Length;
        if (length < delimiter.Length)
            return DecodeStatus.NeedMoreData;

        if (_scanned == 0 && !DelimiterSearch.StartsWith(input, delimiter))
        {
            error = new FrameError(FrameErrorKind.BadHeader, "bytes before the first delimiter belong to no message");
            if (_onError == FrameErrorPolicy.Close)
                return DecodeStatus.Error;
            Discard(ref input, delimiter, from: 1);
            return DecodeStatus.Skipped;
        }

        var searchStart = Math.Max(_scanned, delimiter.Length);
        var searchEnd = Math.Min(length, _window);
        var at = DelimiterSearch.IndexOf(input, searchStart, searchEnd, delimiter);
        if (at < 0)
        {
            if (searchEnd < _window)
            {
                _scanned = Math.Max(delimiter.Length, searchEnd - delimiter.Length + 1);
                return DecodeStatus.NeedMoreData;
            }

            _scanned = 0;
            error = new FrameError(FrameErrorKind.Oversize, $"a message of {searchEnd - delimiter.Length} bytes or more is over max_frame_bytes={_maxFrameBytes}");
            if (_onError == FrameErrorPolicy.Close)
                return DecodeStatus.Error;
            // Drop what was searched but keep what could be the start of a delimiter split across reads.
            _discarding = true;
            input = input.Slice(searchEnd - (delimiter.Length - 1));
            return DecodeStatus.Skipped;
        }

        payload = _include ? input.Slice(0, at) : input.Slice(delimiter.Length, at - delimiter.Length);
        input = input.Slice(at);
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
            _discarding = false;
            input = input.Slice(input.End);
            return DecodeStatus.NeedMoreData;
        }
        if (input.IsEmpty)
            return DecodeStatus.NeedMoreData;

        // Decode has checked that what is left starts with a delimiter unless it is shorter than one.
        var length = input.Length;
        if (!_deliverAtEnd || length < _delimiter.Length)
        {
            error = new FrameError(FrameErrorKind.Truncated, $"the stream ended with {length} bytes of a message no delimiter closed");
            input = input.Slice(input.End);
            return DecodeStatus.Error;
        }

        var contentLength = length - _delimiter.Length;
        if (contentLength > _maxFrameBytes)
        {
            error = new FrameError(FrameErrorKind.Oversize, $"a message of {contentLength} bytes is over max_frame_bytes={_maxFrameBytes}");
            input = input.Slice(input.End);
            return _onError == FrameErrorPolicy.Skip ? DecodeStatus.Skipped : DecodeStatus.Error;
        }

        payload = _include ? input : input.Slice(_delimiter.Length);
        input = input.Slice(input.End);
        return DecodeStatus.Frame;
    }

    /// <summary>Drops bytes up to (not including) the next delimiter at or after <paramref name="from"/>.</summary>
    private bool Discard(ref ReadOnlySequence<byte> input, ReadOnlySpan<byte> delimiter, long from)
    {
        var at = DelimiterSearch.IndexOf(input, from, input.Length, delimiter);
        if (at < 0)
        {
            input = input.Slice(Math.Max(0, input.Length - (delimiter.Length - 1)));
            _discarding = true;
            return false;
        }
        input = input.Slice(at);
        _discarding = false;
        return true;
    }
}
