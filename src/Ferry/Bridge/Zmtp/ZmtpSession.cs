using System.Buffers;
using System.Text;
using Ferry.Framing;

namespace Ferry.Bridge.Zmtp;

/// <summary>
/// One connection of the <c>zmtp</c> framing: the handshake (greetings, then READY both ways), commands
/// (PING answered with PONG, ERROR closes) and messages, decoded as they stream in.
/// </summary>
/// <remarks>
/// <para>Every frame header is taken into the session's state as soon as it is whole, and so are the
/// metadata parts of a Rogue message and the bytes of a message being dropped; only a payload (until
/// it is whole, then returned as a slice of the input), a command (until it is whole, at most 64 KiB),
/// the greeting and a partial header stay in the caller's input. The stream therefore stays in sync
/// wherever the reads cut it, and a dropped message of any size is never buffered.</para>
/// <para>A drop is reported once, as <see cref="DecodeStatus.Skipped"/>, when the dropped message's last
/// part has gone by: only then are its part count and the reason known for sure.</para>
/// <para>Why one type of about 500 lines and 20 fields: the handshake, the commands and the message parts
/// are read through one cursor over one stream, and a read may end inside any of them. Split into
/// types, each would have to hand its partial-header state to the next on every read; kept together,
/// the state is one switch on <c>_phase</c>, and the fields are grouped below by what they track.</para>
/// </remarks>
internal sealed class ZmtpSession : IFramingSession
{
    // Commands up to this size are parsed from a copy on the stack when they straddle segments.
    private const int StackCommandBytes = 256;

    // The peer's Socket-Type is quoted in errors up to this length.
    private const int MaxQuotedSocketType = 32;

    private readonly IBufferWriter<byte> _output;
    private readonly ZmtpSocketType _socketType;
    private readonly bool _rogue;
    private readonly int _expectedParts;
    private readonly int _payloadPart;
    private readonly int _maxFrameBytes;
    private readonly bool _skipErrors;

    private Phase _phase;
    private bool _started;
    private bool _established;
    private FrameError _failure;

    // The message being received.
    private int _part;           // index of the current part; between parts, how many went by
    private bool _inPart;        // a part's header was taken and its body is being received
    private bool _more;          // the current part's MORE flag
    private PartRole _role;
    private long _left;          // body bytes of the current part not taken yet
    private DropReason _drop;
    private FrameErrorKind _dropKind;
    private string? _dropDetail;
    private ushort _flags;
    private byte _channel;
    private byte _error;

    public ZmtpSession(ZmtpFraming framing, IBufferWriter<byte> output)
    {
        _output = output;
        _socketType = framing.SocketType;
        _rogue = framing.Message == ZmtpMessageFormat.Rogue;
        _expectedParts = _rogue ? RogueMessage.PartCount : 1;
        _payloadPart = _rogue ? RogueMessage.PayloadPart : 0;
        _maxFrameBytes = framing.MaxFrameBytes;
        _skipErrors = framing.OnError == FrameErrorPolicy.Skip;
    }

    private enum Phase
    {
        Greeting,
        Ready,
        Established,
        Failed,
    }

    private enum PartRole
    {
        Metadata,
        Payload,
        Skip,
    }

    private enum DropReason
    {
        None,
        PushSocket,
        PartCount,
        Shape,
    }

    /// <summary>True from the moment the peer's READY was accepted; it stays true after a later failure
    /// (the connection is closing then anyway).</summary>
    public bool IsEstablished => _established;

    /// <summary>Writes our greeting; only the first call does anything. A decode call before it starts the session itself.</summary>
    public void Start()
    {
        if (_started)
            return;
        _started = true;
        ZmtpGreeting.Write(_output);
    }

    public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        payload = default;
        fields = default;
        error = default;
        if (_phase == Phase.Established)
            return DecodeTraffic(ref input, out payload, out fields, out error);

        if (!_started)
            Start();
        if (_phase == Phase.Greeting && !TryGreeting(ref input))
            return Stalled(out error);
        if (_phase == Phase.Ready && !TryReady(ref input))
            return Stalled(out error);
        if (_phase == Phase.Failed)
            return Stalled(out error);
        return DecodeTraffic(ref input, out payload, out fields, out error);
    }

    public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        var status = Decode(ref input, out payload, out fields, out error);
        if (status != DecodeStatus.NeedMoreData)
            return status;
        if (input.IsEmpty && !_inPart && _part == 0)
            return DecodeStatus.NeedMoreData;

        var detail = _phase switch
        {
            Phase.Greeting => $"the stream ended inside the ZMTP greeting ({input.Length} of {ZmtpGreeting.Length} bytes)",
            _ when _inPart || _part > 0 => $"the stream ended inside a message (in part {_part}, {(_inPart ? _left : 0)} bytes of it missing)",
            _ => $"the stream ended inside a frame ({input.Length} bytes left)",
        };
        input = input.Slice(input.End);
        error = Fail(FrameErrorKind.Truncated, detail);
        return DecodeStatus.Error;
    }

    private DecodeStatus Stalled(out FrameError error)
    {
        if (_phase == Phase.Failed)
        {
            error = _failure;
            return DecodeStatus.Error;
        }
        error = default;
        return DecodeStatus.NeedMoreData;
    }

    private FrameError Fail(FrameErrorKind kind, string detail)
    {
        _phase = Phase.Failed;
        _failure = new FrameError(kind, detail);
        return _failure;
    }

    private void Fail(string detail) => Fail(FrameErrorKind.Protocol, detail);

    // ---- Handshake ----

    private bool TryGreeting(ref ReadOnlySequence<byte> input)
    {
        var consumed = input.Start;
        var examined = input.Start;
        ZmtpGreeting greeting;
        try
        {
            if (!ZmtpGreeting.TryParse(input, ref consumed, ref examined, out greeting))
                return false;
        }
        catch (ZmtpProtocolException e)
        {
            Fail(e.Message);
            return false;
        }

        input = input.Slice(consumed);
        if (!greeting.IsNullMechanism)
        {
            Fail("the peer asks for a security mechanism other than NULL");
            return false;
        }

        // READY goes out once the peer's greeting proved it speaks ZMTP 3, as the bridge does.
        ZmtpCommand.WriteReady(_output, _socketType);
        _phase = Phase.Ready;
        return true;
    }

    private bool TryReady(ref ReadOnlySequence<byte> input)
    {
        if (!TryReadHeader(input, out var header, out var headerLength))
            return false;
        if (!header.IsCommand)
        {
            Fail("expected the peer's READY command, got a message frame");
            return false;
        }
        return TryTakeCommand(ref input, header, headerLength);
    }

    private bool OnReady(in ZmtpCommand command)
    {
        if (command.Kind == ZmtpCommandKind.Error)
        {
            Fail($"the peer refused the handshake: {command.ErrorReason}");
            return false;
        }
        if (command.Kind != ZmtpCommandKind.Ready)
        {
            Fail($"expected the peer's READY command, got {Quote(command.Name)}");
            return false;
        }
        if (!command.TryGetSocketType(out var peerType))
        {
            Fail("the peer's READY has no Socket-Type");
            return false;
        }
        if (!ZmtpSocketTypes.IsCompatiblePeer(_socketType, peerType))
        {
            var ours = Encoding.ASCII.GetString(ZmtpSocketTypes.GetName(_socketType));
            var reason = $"Invalid socket type: {Quote(peerType)} cannot talk to {ours}";
            // Tell the peer why before the connection closes, as RFC 37's ERROR command allows.
            ZmtpCommand.WriteError(_output, reason);
            Fail(reason);
            return false;
        }

        _phase = Phase.Established;
        _established = true;
        return true;
    }

    // ---- Frames ----

    private bool TryReadHeader(in ReadOnlySequence<byte> input, out ZmtpFrameHeader header, out int headerLength)
    {
        try
        {
            return ZmtpFrameHeader.TryRead(input, out header, out headerLength);
        }
        catch (ZmtpProtocolException e)
        {
            header = default;
            headerLength = 0;
            Fail(e.Message);
            return false;
        }
    }

    /// <summary>Acts on a whole command at the front of the input; false when it is not whole yet or the session failed.</summary>
    private bool TryTakeCommand(ref ReadOnlySequence<byte> input, in ZmtpFrameHeader header, int headerLength)
    {
        if (header.BodyLength > ZmtpFraming.MaxCommandBodyBytes)
        {
            Fail($"a command of {header.BodyLength} bytes is over the limit of {ZmtpFraming.MaxCommandBodyBytes}");
            return false;
        }
        if (input.Length - headerLength < header.BodyLength)
            return false;

        var body = input.Slice(headerLength, header.BodyLength);
        input = input.Slice(body.End);
        return body.IsSingleSegment ? OnCommand(body.FirstSpan) : OnSplitCommand(body);
    }

    private bool OnSplitCommand(in ReadOnlySequence<byte> body)
    {
        var length = (int)body.Length;
        byte[]? rented = null;
        var bytes = length <= StackCommandBytes ? stackalloc byte[StackCommandBytes] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            bytes = bytes[..length];
            body.CopyTo(bytes);
            return OnCommand(bytes);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private bool OnCommand(ReadOnlySpan<byte> body)
    {
        try
        {
            var command = ZmtpCommand.Parse(body);
            if (_phase == Phase.Ready)
                return OnReady(command);

            switch (command.Kind)
            {
                case ZmtpCommandKind.Ping:
                    ZmtpCommand.WritePong(_output, command.PingContext);
                    return true;
                case ZmtpCommandKind.Error:
                    Fail($"the peer sent ERROR: {command.ErrorReason}");
                    return false;
                default:
                    // PONG answers a PING we never send; unknown commands are ignored as RFC 37 asks.
                    return true;
            }
        }
        catch (ZmtpProtocolException e)
        {
            Fail(e.Message);
            return false;
        }
    }

    private DecodeStatus DecodeTraffic(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        payload = default;
        fields = default;
        error = default;
        while (true)
        {
            if (_inPart)
            {
                switch (_role)
                {
                    case PartRole.Payload:
                        if (input.Length < _left)
                            return DecodeStatus.NeedMoreData;
                        payload = input.Slice(0, _left);
                        input = input.Slice(payload.End);
                        if (_rogue)
                            fields = new FrameFields(Flags: _flags, Channel: _channel, Error: _error);
                        EndMessage();
                        return DecodeStatus.Frame;

                    case PartRole.Metadata:
                        if (!TakeMetadata(ref input))
                            return DecodeStatus.NeedMoreData;
                        break;

                    default:
                        var n = Math.Min(_left, input.Length);
                        input = input.Slice(n);
                        _left -= n;
                        if (_left > 0)
                            return DecodeStatus.NeedMoreData;
                        break;
                }

                _inPart = false;
                _part++;
                if (!_more)
                {
                    // Only a dropped message ends here: an accepted one ends with its payload part.
                    error = DropError();
                    EndMessage();
                    return DecodeStatus.Skipped;
                }
                continue;
            }

            if (!TryReadHeader(input, out var header, out var headerLength))
                return Stalled(out error);

            if (header.IsCommand)
            {
                if (!TryTakeCommand(ref input, header, headerLength))
                    return Stalled(out error);
                continue;
            }

            input = input.Slice(headerLength);
            if (!BeginPart(header))
                return Stalled(out error);
        }
    }

    /// <summary>Starts receiving a message part whose header was taken; false when on_error=close fails the session.</summary>
    private bool BeginPart(in ZmtpFrameHeader header)
    {
        _inPart = true;
        _more = header.More;
        _left = header.BodyLength;
        if (_drop == DropReason.None && Check(header) is { } problem)
        {
            if (!_skipErrors)
            {
                Fail(problem.Kind, problem.Detail);
                return false;
            }
            _dropKind = problem.Kind;
            _dropDetail = problem.Detail;
        }

        if (_drop != DropReason.None)
            _role = PartRole.Skip;
        else if (_part == _payloadPart)
            _role = PartRole.Payload;
        else
        {
            _role = PartRole.Metadata;
            if (_part == 0)
                _flags = 0;
        }
        return true;
    }

    /// <summary>What is wrong with the current part as part <see cref="_part"/> of an acceptable message, if anything; sets <see cref="_drop"/>.</summary>
    private FrameError? Check(in ZmtpFrameHeader header)
    {
        if (_socketType == ZmtpSocketType.Push)
        {
            _drop = DropReason.PushSocket;
            return new FrameError(FrameErrorKind.Protocol, "a PUSH socket does not receive messages; the peer sent one");
        }

        var last = _part == _expectedParts - 1;
        if (header.More == last)
        {
            // Too few parts is known exactly now; too many only when the message ends (reported then under skip).
            _drop = DropReason.PartCount;
            return new FrameError(FrameErrorKind.BadHeader, header.More
                ? $"message of more than {_expectedParts} parts, expected {_expectedParts}"
                : PartCountDetail(_part + 1));
        }

        if (_rogue && RogueMessage.CheckPartLength(_part, header.BodyLength) is { } wrongLength)
        {
            _drop = DropReason.Shape;
            return new FrameError(FrameErrorKind.BadHeader, wrongLength);
        }

        if (_part == _payloadPart && header.BodyLength > _maxFrameBytes)
        {
            _drop = DropReason.Shape;
            return new FrameError(FrameErrorKind.Oversize, $"a payload of {header.BodyLength} bytes is over max_frame_bytes={_maxFrameBytes}");
        }
        return null;
    }

    /// <summary>The error a dropped message is reported with, once its last part went by (<see cref="_part"/> is its part count).</summary>
    private FrameError DropError()
    {
        if (_drop == DropReason.PushSocket)
            return new FrameError(FrameErrorKind.Protocol, $"a PUSH socket does not receive messages; dropped one of {Parts(_part)} from the peer");
        // A wrong part count explains a wrong part size too (a single-part message is not Rogue's flags).
        if (_part != _expectedParts)
            return new FrameError(FrameErrorKind.BadHeader, PartCountDetail(_part));
        return new FrameError(_dropKind, _dropDetail ?? "malformed message");
    }

    private string PartCountDetail(int parts) => $"message of {Parts(parts)}, expected {_expectedParts}";

    private static string Parts(int parts) => parts == 1 ? "1 part" : $"{parts} parts";

    /// <summary>Takes bytes of a metadata part (flags, channel, error) into the session; true when the part is complete.</summary>
    private bool TakeMetadata(ref ReadOnlySequence<byte> input)
    {
        var n = (int)Math.Min(_left, input.Length);
        if (n > 0)
        {
            Span<byte> bytes = stackalloc byte[2];
            input.Slice(0, n).CopyTo(bytes);
            input = input.Slice(n);
            var expected = RogueMessage.ExpectedLength(_part);
            for (var i = 0; i < n; i++)
            {
                var offset = expected - (int)_left;
                switch (_part)
                {
                    case 0:
                        _flags |= (ushort)(bytes[i] << (8 * offset)); // little-endian
                        break;
                    case 1:
                        _channel = bytes[i];
                        break;
                    default:
                        _error = bytes[i];
                        break;
                }
                _left--;
            }
        }
        return _left == 0;
    }

    private void EndMessage()
    {
        _part = 0;
        _inPart = false;
        _drop = DropReason.None;
        _dropDetail = null;
    }

    private static string Quote(ReadOnlySpan<byte> name)
    {
        var text = Encoding.ASCII.GetString(name.Length > MaxQuotedSocketType ? name[..MaxQuotedSocketType] : name);
        return name.Length > MaxQuotedSocketType ? text + "..." : text;
    }
}
