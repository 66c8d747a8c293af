using System.Buffers;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// <c>delimiter</c> and <c>lines</c>: messages separated by a delimiter of 1..16 bytes, after each
/// message (suffix, the default) or before it (prefix). <c>lines</c> is the delimiter <c>\n</c> that
/// also accepts <c>\r\n</c>, dropping the <c>\r</c> with the <c>\n</c>.
/// </summary>
/// <remarks>
/// max_frame_bytes counts the message without its delimiter. A message with no delimiter after
/// max_frame_bytes + delimiter bytes is <see cref="FrameErrorKind.Oversize"/>; with on_error=skip it is
/// dropped up to the next delimiter. What is left at the end of the stream is delivered as a last
/// message or reported as truncated, per <see cref="EndOfStream"/>. Egress does not look for the
/// delimiter inside payloads: a payload that contains it arrives as two messages.
/// </remarks>
public sealed class DelimiterFraming : IFraming, IFrameEncoder
{
    private readonly byte[] _delimiter;
    private readonly bool _lines;

    /// <summary>A framing on a delimiter of your choice (<c>delimiter,delimiter=...</c>).</summary>
    /// <param name="delimiter">The delimiter, 1 to 16 bytes; copied.</param>
    /// <param name="position">After each message (<see cref="DelimiterPosition.Suffix"/>, default) or before it.</param>
    /// <param name="includeDelimiter">Ingress: keep the delimiter in the payload (default false).</param>
    /// <param name="appendOnEgress">Egress: write the delimiter around each payload (default true); false when payloads carry it themselves.</param>
    /// <param name="endOfStream">What to do with unterminated bytes at the end of the stream (default: deliver them).</param>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">An oversize message closes the connection (default) or is skipped up to the next delimiter.</param>
    /// <exception cref="FramingException">A parameter is out of range; the message names it.</exception>
    public DelimiterFraming(
        ReadOnlySpan<byte> delimiter,
        DelimiterPosition position = DelimiterPosition.Suffix,
        bool includeDelimiter = false,
        bool appendOnEgress = true,
        EndOfStreamPolicy endOfStream = EndOfStreamPolicy.Deliver,
        int maxFrameBytes = FramingDefaults.MaxFrameBytes,
        FrameErrorPolicy onError = FrameErrorPolicy.Close)
        : this(delimiter, lines: false, position, includeDelimiter, appendOnEgress, endOfStream, maxFrameBytes, onError)
    {
    }

    private DelimiterFraming(
        ReadOnlySpan<byte> delimiter,
        bool lines,
        DelimiterPosition position,
        bool includeDelimiter,
        bool appendOnEgress,
        EndOfStreamPolicy endOfStream,
        int maxFrameBytes,
        FrameErrorPolicy onError)
    {
        if (delimiter.Length is 0 or > DelimiterText.MaxBytes)
            throw new FramingException($"delim: a delimiter is 1 to {DelimiterText.MaxBytes} bytes, got {delimiter.Length}");
        if (position is not (DelimiterPosition.Suffix or DelimiterPosition.Prefix))
            throw new FramingException($"position={position}: must be suffix or prefix");
        if (endOfStream is not (EndOfStreamPolicy.Deliver or EndOfStreamPolicy.Error))
            throw new FramingException($"eof={endOfStream}: must be deliver or error");

        _delimiter = delimiter.ToArray();
        _lines = lines;
        Position = position;
        IncludeDelimiter = includeDelimiter;
        AppendOnEgress = appendOnEgress;
        EndOfStream = endOfStream;
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = BuildSpec();
    }

    /// <summary><c>lines</c>: messages end with <c>\n</c> or <c>\r\n</c>; egress appends <c>\n</c>.</summary>
    /// <param name="includeDelimiter">Ingress: keep the line end (<c>\n</c> or <c>\r\n</c>) in the payload (default false).</param>
    /// <param name="appendOnEgress">Egress: append <c>\n</c> to each payload (default true).</param>
    /// <param name="endOfStream">What to do with a last line without <c>\n</c> (default: deliver it).</param>
    /// <param name="maxFrameBytes">The longest line without its line end, in bytes (default 1 MiB).</param>
    /// <param name="onError">An overlong line closes the connection (default) or is skipped up to the next <c>\n</c>.</param>
    /// <exception cref="FramingException">A parameter is out of range; the message names it.</exception>
    public static DelimiterFraming Lines(
        bool includeDelimiter = false,
        bool appendOnEgress = true,
        EndOfStreamPolicy endOfStream = EndOfStreamPolicy.Deliver,
        int maxFrameBytes = FramingDefaults.MaxFrameBytes,
        FrameErrorPolicy onError = FrameErrorPolicy.Close)
        => new("\n"u8, lines: true, DelimiterPosition.Suffix, includeDelimiter, appendOnEgress, endOfStream, maxFrameBytes, onError);

    /// <summary>The delimiter bytes (<c>\n</c> for <c>lines</c>).</summary>
    public ReadOnlySpan<byte> Delimiter => _delimiter;

    /// <summary>Whether the delimiter follows (suffix) or precedes (prefix) each message.</summary>
    public DelimiterPosition Position { get; }

    /// <summary>Ingress: keep the delimiter (and a line's <c>\r</c>) in the payload.</summary>
    public bool IncludeDelimiter { get; }

    /// <summary>Egress: write the delimiter after (suffix) or before (prefix) each payload.</summary>
    public bool AppendOnEgress { get; }

    /// <summary>What happens to bytes no delimiter closed when the stream ends.</summary>
    public EndOfStreamPolicy EndOfStream { get; }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public FrameErrorPolicy OnError { get; }

    /// <summary>Suffix: the delimiter (and a line's <c>\r</c>); prefix: the message's delimiter and the next one's.</summary>
    public int FrameOverheadBytes => Position == DelimiterPosition.Prefix ? 2 * _delimiter.Length : _delimiter.Length + (_lines ? 1 : 0);

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => Position == DelimiterPosition.Suffix
        ? new SuffixDelimiterDecoder(_delimiter, IncludeDelimiter, stripCarriageReturn: _lines, EndOfStream == EndOfStreamPolicy.Deliver, MaxFrameBytes, OnError)
        : new PrefixDelimiterDecoder(_delimiter, IncludeDelimiter, EndOfStream == EndOfStreamPolicy.Deliver, MaxFrameBytes, OnError);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => AppendOnEgress ? payloadLength + _delimiter.Length : payloadLength;

    /// <summary>Writes the payload with the delimiter (when <see cref="AppendOnEgress"/>), without looking for the delimiter inside it.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    /// <exception cref="FramingException">The payload is over <see cref="MaxFrameBytes"/> (plus the delimiter's length when <see cref="AppendOnEgress"/> is false).</exception>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        if (!AppendOnEgress)
        {
            // The caller frames the message itself, delimiter included.
            FramingGuard.PayloadFits("delimiter", payload.Length, MaxFrameBytes + _delimiter.Length);
            output.Write(payload);
            return;
        }

        FramingGuard.PayloadFits("delimiter", payload.Length, MaxFrameBytes);
        if (Position == DelimiterPosition.Prefix)
            output.Write(_delimiter);
        output.Write(payload);
        if (Position == DelimiterPosition.Suffix)
            output.Write(_delimiter);
    }

    internal static IFraming Create(FramingSettings settings)
    {
        // "delimiter=" is the documented key (as in the examples); "delim=" is a short alias.
        var key = "delimiter";
        var text = settings.Text(key);
        var alias = settings.Text("delim");
        if (text is not null && alias is not null)
            throw settings.Error("give delimiter= or delim=, not both");
        if (text is null && alias is not null)
            (key, text) = ("delim", alias);
        byte[]? delimiter = null;
        if (text is not null)
            delimiter = DelimiterText.Parse(text, out var why) ?? throw settings.Bad(key, text, why!);
        var position = settings.Choice("position", DelimiterPosition.Suffix, ("suffix", DelimiterPosition.Suffix), ("prefix", DelimiterPosition.Prefix));
        var (include, append, eof) = ReadShared(settings);
        var (max, onError) = settings.Common();
        if (delimiter is null)
        {
            if (position == DelimiterPosition.Prefix)
                throw settings.Error("position=prefix needs a delimiter, e.g. delimiter=\\x02");
            return Lines(include, append, eof, max, onError);
        }
        return new DelimiterFraming(delimiter, position, include, append, eof, max, onError);
    }

    internal static IFraming CreateLines(FramingSettings settings)
    {
        var (include, append, eof) = ReadShared(settings);
        var (max, onError) = settings.Common();
        return Lines(include, append, eof, max, onError);
    }

    private static (bool Include, bool Append, EndOfStreamPolicy Eof) ReadShared(FramingSettings settings) =>
        (settings.Bool("include", false),
         settings.Bool("append", true),
         settings.Choice("eof", EndOfStreamPolicy.Deliver, ("deliver", EndOfStreamPolicy.Deliver), ("error", EndOfStreamPolicy.Error)));

    private string BuildSpec()
    {
        var spec = _lines
            ? new SpecText("lines")
            : new SpecText("delimiter").Add("delimiter", DelimiterText.Format(_delimiter)).AddIf(Position == DelimiterPosition.Prefix, "position", "prefix");
        return spec
            .AddIf(IncludeDelimiter, "include", true)
            .AddIf(!AppendOnEgress, "append", false)
            .AddIf(EndOfStream == EndOfStreamPolicy.Error, "eof", "error")
            .Common(MaxFrameBytes, OnError);
    }
}
