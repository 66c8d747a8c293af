using System.Buffers;
using System.Globalization;
using Ferry.Framing;
using Ferry.Framing.Internal;

namespace Ferry.Bridge.Zmtp;

/// <summary>
/// <c>zmtp,socket=push|pull</c>: ZeroMQ's ZMTP 3.1 with the NULL mechanism, as one end of a PUSH/PULL
/// pair. Each connection holds a session (<see cref="CreateSession"/>) that exchanges greetings and
/// READY with the peer, answers PING, and delivers messages: with <c>message=rogue</c> (the default)
/// Rogue's four-part stream frame, whose flags, channel and error travel in <see cref="FrameFields"/>;
/// with <c>message=single</c> single-part messages.
/// </summary>
/// <remarks>
/// <para><c>socket</c> is the local socket type: a <c>pull</c> end receives and never sends (its encoder
/// throws), a <c>push</c> end sends and drops whatever message its peer sends. PUSH only talks to PULL;
/// any other peer is refused during the handshake.</para>
/// <para><c>on_error</c> defaults to <c>skip</c> here: ZMTP frames carry their length, so a malformed
/// message (wrong part count or sizes, payload over <c>max_frame_bytes</c>) is dropped as its bytes
/// arrive and decoding goes on. A broken conversation (bad greeting or frame header, refused or failed
/// handshake, ERROR from the peer, command over 64 KiB) closes the connection whatever the policy.</para>
/// </remarks>
internal sealed class ZmtpFraming : ISessionFraming, IFrameEncoder, IFrameHeaderWriter
{
    public const int DefaultHandshakeTimeoutMs = 10_000;

    /// <summary>The largest command body a session accepts (and buffers whole before acting on it).</summary>
    public const int MaxCommandBodyBytes = 64 * 1024;

    /// <summary>The unconsumed bytes a session may leave beside a payload: a whole command frame, the
    /// largest thing it waits for that is not a payload (a message's own overhead, 19 bytes for
    /// <c>rogue</c>, and the 64-octet greeting are less).</summary>
    public const int SessionOverheadBytes = ZmtpFrameHeader.MaxLength + MaxCommandBodyBytes;

    /// <summary>The largest <c>max_frame_bytes</c>: the payload and the overhead must fit an int together.</summary>
    public const int MaxPayloadLimit = int.MaxValue - SessionOverheadBytes;

    /// <param name="socketType">The local socket type: PUSH sends, PULL receives.</param>
    /// <param name="message">Rogue's four-part message or single-part messages.</param>
    /// <param name="handshakeTimeoutMs">A connection not established this long after it opened is closed (1..int.MaxValue).</param>
    /// <param name="maxFrameBytes">The largest payload (1..<see cref="MaxPayloadLimit"/>).</param>
    /// <param name="onError">Malformed or oversize messages are skipped (the default) or close the connection.</param>
    public ZmtpFraming(
        ZmtpSocketType socketType,
        ZmtpMessageFormat message = ZmtpMessageFormat.Rogue,
        int handshakeTimeoutMs = DefaultHandshakeTimeoutMs,
        int maxFrameBytes = FramingDefaults.MaxFrameBytes,
        FrameErrorPolicy onError = FrameErrorPolicy.Skip)
    {
        if (socketType is not (ZmtpSocketType.Push or ZmtpSocketType.Pull))
            throw new FramingException($"socket={socketType}: must be push or pull");
        if (message is not (ZmtpMessageFormat.Rogue or ZmtpMessageFormat.Single))
            throw new FramingException($"message={message}: must be rogue or single");
        if (handshakeTimeoutMs <= 0)
            throw new FramingException($"handshake_timeout_ms={handshakeTimeoutMs}: must be a whole number from 1 to {int.MaxValue}");
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        if (maxFrameBytes > MaxPayloadLimit)
            throw new FramingException($"max_frame_bytes={maxFrameBytes}: must be at most {MaxPayloadLimit} for zmtp (the payload and {SessionOverheadBytes} bytes of command overhead must fit an int)");

        SocketType = socketType;
        Message = message;
        HandshakeTimeoutMs = handshakeTimeoutMs;
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("zmtp")
            .Add("socket", socketType == ZmtpSocketType.Push ? "push" : "pull")
            .AddIf(message != ZmtpMessageFormat.Rogue, "message", "single")
            .AddIf(handshakeTimeoutMs != DefaultHandshakeTimeoutMs, "handshake_timeout_ms", handshakeTimeoutMs)
            .Common(MaxFrameBytes, OnError, defaultOnError: FrameErrorPolicy.Skip);
    }

    public ZmtpSocketType SocketType { get; }

    public ZmtpMessageFormat Message { get; }

    public int HandshakeTimeoutMs { get; }

    public TimeSpan HandshakeTimeout => TimeSpan.FromMilliseconds(HandshakeTimeoutMs);

    public string Spec { get; }

    public int MaxFrameBytes { get; }

    public FrameErrorPolicy OnError { get; }

    /// <summary>
    /// <see cref="SessionOverheadBytes"/>: besides at most a payload's bytes, a session leaves unconsumed
    /// a command frame it is waiting to receive whole (up to 9 + 64 KiB), the greeting (up to 63 octets)
    /// or a partial frame header (up to 8); metadata parts and headers of message parts are taken into
    /// its state as they arrive.
    /// </summary>
    public int FrameOverheadBytes => SessionOverheadBytes;

    public IFrameEncoder Encoder => this;

    /// <summary>A Rogue frame's flags, channel and error (<c>message=rogue</c>); none for plain messages.</summary>
    public IReadOnlyList<FrameField> HeaderFields => Message == ZmtpMessageFormat.Rogue ? RogueFields : [];

    private static readonly FrameField[] RogueFields = [FrameField.Flags, FrameField.Channel, FrameField.Error];

    /// <exception cref="NotSupportedException">Always: use <see cref="CreateSession"/>.</exception>
    public IFrameDecoder CreateDecoder() =>
        throw new NotSupportedException("zmtp holds a conversation with its peer (greeting, READY, PING/PONG), which a plain decoder cannot; stages create one session per connection with ISessionFraming.CreateSession");

    public IFramingSession CreateSession(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return new ZmtpSession(this, output);
    }

    /// <exception cref="FramingException">The local socket is a PULL, which never sends.</exception>
    public int GetEncodedLength(int payloadLength)
    {
        EnsureCanSend();
        var length = Message == ZmtpMessageFormat.Rogue
            ? RogueMessage.GetEncodedLength(payloadLength)
            : ZmtpFrameHeader.GetEncodedLength(payloadLength) + (long)payloadLength;
        return (int)Math.Min(length, int.MaxValue);
    }

    /// <exception cref="FramingException">The local socket is a PULL, or the payload is over <see cref="MaxFrameBytes"/>.</exception>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        EnsureCanSend();
        FramingGuard.PayloadFits("zmtp", payload.Length, MaxFrameBytes);
        if (Message == ZmtpMessageFormat.Rogue)
            RogueMessage.Write(payload, fields.Flags, fields.Channel, fields.Error, output);
        else
            ZmtpFrame.Write(output, payload, more: false, isCommand: false);
    }

    /// <exception cref="FramingException">As <see cref="Encode"/>.</exception>
    public int WriteHeader(int payloadLength, in FrameFields fields, Span<byte> destination)
    {
        EnsureCanSend();
        FramingGuard.PayloadFits("zmtp", payloadLength, MaxFrameBytes);
        return Message == ZmtpMessageFormat.Rogue
            ? RogueMessage.WriteHeader(payloadLength, fields.Flags, fields.Channel, fields.Error, destination)
            : new ZmtpFrameHeader(payloadLength, more: false, isCommand: false).Write(destination);
    }

    private void EnsureCanSend()
    {
        if (SocketType == ZmtpSocketType.Pull)
            throw new FramingException("zmtp: a PULL socket does not send messages (socket=pull receives only; the sending end is socket=push)");
    }

    internal static IFraming Create(FramingSettings settings)
    {
        var socket = settings.Choice<ZmtpSocketType?>("socket", null, ("push", ZmtpSocketType.Push), ("pull", ZmtpSocketType.Pull))
            ?? throw settings.Error("setting 'socket' is required for zmtp: the local socket type, socket=push (sends) or socket=pull (receives)");
        var message = settings.Choice("message", ZmtpMessageFormat.Rogue, ("rogue", ZmtpMessageFormat.Rogue), ("single", ZmtpMessageFormat.Single));
        var timeout = settings.Int("handshake_timeout_ms", DefaultHandshakeTimeoutMs, 1, int.MaxValue);
        var (max, onError) = settings.Common(defaultOnError: FrameErrorPolicy.Skip);
        if (max > MaxPayloadLimit)
            throw settings.Bad("max_frame_bytes", max.ToString(CultureInfo.InvariantCulture), $"must be a whole number from 1 to {MaxPayloadLimit} for zmtp");
        return new ZmtpFraming(socket, message, timeout, max, onError);
    }
}
