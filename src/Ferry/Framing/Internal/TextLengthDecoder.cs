using System.Buffers;

namespace Ferry.Framing.Internal;

/// <summary>
/// Decodes <c>text-length</c>: a line of 1..18 decimal digits (optionally ending in <c>\r\n</c>), then that
/// many payload bytes. A header is rejected as soon as a byte that cannot belong to it arrives.
/// </summary>
internal sealed class TextLengthDecoder(int maxFrameBytes, FrameErrorPolicy onError) : IFrameDecoder, ISkippingDecoder
{
    /// <summary>18 digits (any 18-digit number fits a long), '\r', '\n'.</summary>
    public const int MaxHeaderBytes = MaxDigits + 2;

    private const int MaxDigits = 18;

    private readonly int _maxFrameBytes = maxFrameBytes;
    private readonly FrameErrorPolicy _onError = onError;

    // on_error=skip state: payload bytes of an oversize frame still to discard, or a bad header line
    // being discarded up to its '\n'. Either may span many reads.
    private long _skip;
    private bool _discardingLine;

    public bool IsSkipping => _skip > 0 || _discardingLine;

    private enum HeaderParse { Incomplete, Valid, Invalid }

    public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        payload = default;
        fields = default;
        error = default;
        if (_skip > 0 && !SkipPending(ref input))
            return DecodeStatus.NeedMoreData;
        if (_discardingLine && !DiscardLine(ref input))
            return DecodeStatus.NeedMoreData;

        var first = input.FirstSpan;
        var parse = first.Length >= MaxHeaderBytes || input.IsSingleSegment
            ? ParseHeader(first, out var length, out var headerBytes, out var bad)
            : ParseSplitHeader(input, out length, out headerBytes, out bad);

        switch (parse)
        {
            case HeaderParse.Incomplete:
                return DecodeStatus.NeedMoreData;
            case HeaderParse.Invalid:
                error = new FrameError(FrameErrorKind.BadHeader, bad!);
                if (_onError == FrameErrorPolicy.Close)
                    return DecodeStatus.Error;
                // The header line is the only boundary there is: resume after its end.
                _discardingLine = true;
                DiscardLine(ref input);
                return DecodeStatus.Skipped;
        }

        if (length > _maxFrameBytes)
        {
            error = new FrameError(FrameErrorKind.Oversize, $"a frame of {length} bytes is over max_frame_bytes={_maxFrameBytes}");
            if (_onError == FrameErrorPolicy.Close)
                return DecodeStatus.Error;
            input = input.Slice(headerBytes);
            _skip = length;
            SkipPending(ref input);
            return DecodeStatus.Skipped;
        }

        if (input.Length - headerBytes < length)
            return DecodeStatus.NeedMoreData;

        payload = input.Slice(headerBytes, length);
        input = input.Slice(payload.End);
        return DecodeStatus.Frame;
    }

    public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        var status = Decode(ref input, out payload, out fields, out error);
        if (status != DecodeStatus.NeedMoreData)
            return status;

        if (_skip > 0 || _discardingLine)
        {
            // The rest of something already reported.
            _skip = 0;
            _discardingLine = false;
            input = input.Slice(input.End);
            return DecodeStatus.NeedMoreData;
        }
        if (input.IsEmpty)
            return DecodeStatus.NeedMoreData;

        error = new FrameError(FrameErrorKind.Truncated, $"the stream ended inside a frame ({input.Length} bytes left)");
        input = input.Slice(input.End);
        return DecodeStatus.Error;
    }

    private static HeaderParse ParseHeader(ReadOnlySpan<byte> bytes, out long length, out int headerBytes, out string? bad)
    {
        length = 0;
        headerBytes = 0;
        bad = null;
        var digits = 0;
        var n = Math.Min(bytes.Length, MaxHeaderBytes);
        for (var i = 0; i < n; i++)
        {
            var b = bytes[i];
            var digit = (uint)(b - '0');
            if (digit <= 9)
            {
                if (++digits > MaxDigits)
                {
                    bad = $"the length line has more than {MaxDigits} digits";
                    return HeaderParse.Invalid;
                }
                length = length * 10 + digit;
                continue;
            }

            if (digits == 0)
            {
                bad = $"the length line starts with byte 0x{b:X2}, not a digit";
                return HeaderParse.Invalid;
            }
            if (b == '\n')
            {
                headerBytes = i + 1;
                return HeaderParse.Valid;
            }
            if (b == '\r')
            {
                if (i + 1 == bytes.Length)
                    return HeaderParse.Incomplete;
                if (bytes[i + 1] == '\n')
                {
                    headerBytes = i + 2;
                    return HeaderParse.Valid;
                }
                bad = "the length line has a '\\r' not followed by '\\n'";
                return HeaderParse.Invalid;
            }
            bad = $"the length line holds byte 0x{b:X2}, not a digit";
            return HeaderParse.Invalid;
        }
        return HeaderParse.Incomplete;
    }

    private static HeaderParse ParseSplitHeader(in ReadOnlySequence<byte> input, out long length, out int headerBytes, out string? bad)
    {
        Span<byte> scratch = stackalloc byte[MaxHeaderBytes];
        var n = (int)Math.Min(input.Length, MaxHeaderBytes);
        input.Slice(0, n).CopyTo(scratch);
        return ParseHeader(scratch[..n], out length, out headerBytes, out bad);
    }

    private bool SkipPending(ref ReadOnlySequence<byte> input)
    {
        var n = Math.Min(_skip, input.Length);
        input = input.Slice(n);
        _skip -= n;
        return _skip == 0;
    }

    private bool DiscardLine(ref ReadOnlySequence<byte> input)
    {
        var at = DelimiterSearch.IndexOf(input, 0, input.Length, "\n"u8);
        if (at < 0)
        {
            input = input.Slice(input.End);
            return false;
        }
        input = input.Slice(at + 1);
        _discardingLine = false;
        return true;
    }
}
