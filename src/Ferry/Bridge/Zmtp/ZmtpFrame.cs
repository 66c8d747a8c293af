using System.Buffers;

namespace Ferry.Bridge.Zmtp;

/// <summary>One whole ZMTP frame: its header and its body, a slice of the parser's input (not copied).</summary>
internal readonly struct ZmtpFrame
{
    public ZmtpFrame(ZmtpFrameHeader header, ReadOnlySequence<byte> body)
    {
        Header = header;
        Body = body;
    }

    public ZmtpFrameHeader Header { get; }

    public ReadOnlySequence<byte> Body { get; }

    /// <summary>
    /// Parses one whole frame (the Bedrock <c>TryParseMessage</c> shape). Used where frames are small
    /// (the handshake, commands, tests); the bridge's receive loop streams large message bodies instead of
    /// waiting for them to be buffered whole. A body longer than <paramref name="maxBodyLength"/> throws.
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, long maxBodyLength, out ZmtpFrame frame)
    {
        frame = default;
        if (!ZmtpFrameHeader.TryRead(input, out ZmtpFrameHeader header, out int headerLength))
        {
            examined = input.End;
            return false;
        }

        if (header.BodyLength > maxBodyLength)
            throw new ZmtpProtocolException($"frame of {header.BodyLength} bytes exceeds the limit of {maxBodyLength}");
        if (input.Length - headerLength < header.BodyLength)
        {
            examined = input.End;
            return false;
        }

        ReadOnlySequence<byte> body = input.Slice(headerLength, header.BodyLength);
        frame = new ZmtpFrame(header, body);
        consumed = body.End;
        examined = consumed;
        return true;
    }

    /// <summary>Writes a whole frame: header then body.</summary>
    public static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> body, bool more, bool isCommand)
    {
        new ZmtpFrameHeader(body.Length, more, isCommand).Write(output);
        output.Write(body);
    }
}
