using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Ferry.Bridge.Zmtp;

/// <summary>
/// A command frame's body: a one-octet name length, the name, then command data (RFC 23 / RFC 37).
/// A view over the caller's bytes; commands are small, so callers parse them from one span.
/// </summary>
internal readonly ref struct ZmtpCommand
{
    /// <summary>The PING context is at most 16 octets (RFC 37); PONG echoes it back.</summary>
    public const int MaxPingContextLength = 16;

    private static ReadOnlySpan<byte> SocketTypeProperty => "Socket-Type"u8;

    private ZmtpCommand(ZmtpCommandKind kind, ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        Kind = kind;
        Name = name;
        Data = data;
    }

    public ZmtpCommandKind Kind { get; }

    public ReadOnlySpan<byte> Name { get; }

    public ReadOnlySpan<byte> Data { get; }

    public static ZmtpCommand Parse(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty || body[0] == 0 || body[0] > body.Length - 1)
            throw new ZmtpProtocolException("malformed command: bad name length");
        ReadOnlySpan<byte> name = body.Slice(1, body[0]);
        ReadOnlySpan<byte> data = body[(1 + body[0])..];
        ZmtpCommandKind kind =
            name.SequenceEqual("READY"u8) ? ZmtpCommandKind.Ready :
            name.SequenceEqual("ERROR"u8) ? ZmtpCommandKind.Error :
            name.SequenceEqual("PING"u8) ? ZmtpCommandKind.Ping :
            name.SequenceEqual("PONG"u8) ? ZmtpCommandKind.Pong :
            ZmtpCommandKind.Unknown;
        return new ZmtpCommand(kind, name, data);
    }

    /// <summary>The PING context to echo in the PONG (after the 2-octet TTL), capped at 16 octets.</summary>
    public ReadOnlySpan<byte> PingContext
    {
        get
        {
            if (Data.Length < 2)
                throw new ZmtpProtocolException("malformed PING: no TTL");
            ReadOnlySpan<byte> context = Data[2..];
            return context.Length > MaxPingContextLength ? context[..MaxPingContextLength] : context;
        }
    }

    /// <summary>The ERROR command's reason text.</summary>
    public string ErrorReason => Data.IsEmpty ? string.Empty : Encoding.ASCII.GetString(Data.Slice(1, Math.Min(Data[0], Data.Length - 1)));

    /// <summary>
    /// Finds a metadata property of a READY command. Property names compare case-insensitively, as
    /// RFC 23 asks; a malformed property list throws.
    /// </summary>
    public bool TryGetProperty(ReadOnlySpan<byte> propertyName, out ReadOnlySpan<byte> value)
    {
        ReadOnlySpan<byte> rest = Data;
        while (!rest.IsEmpty)
        {
            int nameLength = rest[0];
            if (nameLength == 0 || rest.Length < 1 + nameLength + 4)
                throw new ZmtpProtocolException("malformed READY metadata: bad property name");
            ReadOnlySpan<byte> name = rest.Slice(1, nameLength);
            uint valueLength = BinaryPrimitives.ReadUInt32BigEndian(rest.Slice(1 + nameLength, 4));
            rest = rest[(1 + nameLength + 4)..];
            if (valueLength > (uint)rest.Length)
                throw new ZmtpProtocolException("malformed READY metadata: property value overruns the command");
            if (Ascii.EqualsIgnoreCase(name, propertyName))
            {
                value = rest[..(int)valueLength];
                return true;
            }

            rest = rest[(int)valueLength..];
        }

        value = default;
        return false;
    }

    public bool TryGetSocketType(out ReadOnlySpan<byte> socketType) => TryGetProperty(SocketTypeProperty, out socketType);

    /// <summary>Writes the NULL mechanism's READY with the one property Rogue's peers check: Socket-Type.</summary>
    public static void WriteReady(IBufferWriter<byte> output, ZmtpSocketType socketType)
    {
        ReadOnlySpan<byte> typeName = ZmtpSocketTypes.GetName(socketType);
        int bodyLength = 1 + 5 + 1 + SocketTypeProperty.Length + 4 + typeName.Length;
        Span<byte> span = output.GetSpan(ZmtpFrameHeader.ShortLength + bodyLength);
        int at = new ZmtpFrameHeader(bodyLength, more: false, isCommand: true).Write(span);
        at += WriteName(span[at..], "READY"u8);
        at += WriteName(span[at..], SocketTypeProperty);
        BinaryPrimitives.WriteUInt32BigEndian(span[at..], (uint)typeName.Length);
        at += 4;
        typeName.CopyTo(span[at..]);
        output.Advance(at + typeName.Length);
    }

    public static void WritePing(IBufferWriter<byte> output, ushort ttlDeciseconds, ReadOnlySpan<byte> context)
    {
        if (context.Length > MaxPingContextLength)
            throw new ArgumentOutOfRangeException(nameof(context), "a PING context is at most 16 octets");
        int bodyLength = 1 + 4 + 2 + context.Length;
        Span<byte> span = output.GetSpan(ZmtpFrameHeader.ShortLength + bodyLength);
        int at = new ZmtpFrameHeader(bodyLength, more: false, isCommand: true).Write(span);
        at += WriteName(span[at..], "PING"u8);
        BinaryPrimitives.WriteUInt16BigEndian(span[at..], ttlDeciseconds);
        at += 2;
        context.CopyTo(span[at..]);
        output.Advance(at + context.Length);
    }

    public static void WritePong(IBufferWriter<byte> output, ReadOnlySpan<byte> context)
    {
        int bodyLength = 1 + 4 + context.Length;
        Span<byte> span = output.GetSpan(ZmtpFrameHeader.ShortLength + bodyLength);
        int at = new ZmtpFrameHeader(bodyLength, more: false, isCommand: true).Write(span);
        at += WriteName(span[at..], "PONG"u8);
        context.CopyTo(span[at..]);
        output.Advance(at + context.Length);
    }

    /// <summary>Writes ERROR with a reason of at most 255 ASCII characters, sent before closing on a failed handshake.</summary>
    public static void WriteError(IBufferWriter<byte> output, string reason)
    {
        int reasonLength = Math.Min(reason.Length, byte.MaxValue);
        int bodyLength = 1 + 5 + 1 + reasonLength;
        Span<byte> span = output.GetSpan(ZmtpFrameHeader.MaxLength + bodyLength);
        int at = new ZmtpFrameHeader(bodyLength, more: false, isCommand: true).Write(span);
        at += WriteName(span[at..], "ERROR"u8);
        span[at++] = (byte)reasonLength;
        at += Encoding.ASCII.GetBytes(reason.AsSpan(0, reasonLength), span[at..]);
        output.Advance(at);
    }

    private static int WriteName(Span<byte> destination, ReadOnlySpan<byte> name)
    {
        destination[0] = (byte)name.Length;
        name.CopyTo(destination[1..]);
        return 1 + name.Length;
    }
}
