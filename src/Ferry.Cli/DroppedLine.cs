using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// Why <c>ferry connect</c>'s stage refused a stdin line (<see cref="TcpClientStage.SendAsync"/> said false), told from
/// what the stage knows, with what to change. The command's stage holds egress while disconnected, so a line is dropped
/// only for its framed size (over the egress buffer: the stage drops such a message whether connected or not), or, while
/// connected, because the egress buffer is full (the server reads slower than lines come).
/// </summary>
internal static class DroppedLine
{
    /// <summary>The error line for a line of <paramref name="payloadBytes"/> the stage dropped; null when the stage is stopping
    /// (it takes nothing more then, and saying so for each line would be noise).</summary>
    public static string? Explain(TcpClientStage stage, int payloadBytes, bool stopping)
    {
        if (stopping)
            return null;
        var options = stage.Options;
        var framed = options.Framing.Encoder.GetEncodedLength(payloadBytes);
        if (framed > options.EgressBufferBytes)
            return $"stdin line of {payloadBytes} bytes is {framed} bytes framed ({options.Framing.Spec}), more than the egress buffer holds "
                + $"({options.EgressBufferBytes} bytes); not sent: shorten it or raise --egress-buffer";
        if (stage.IsConnected)
            return $"stdin line dropped: the egress buffer is full ({options.EgressBufferBytes} bytes waiting for the server, which reads "
                + "slower than lines come); raise --egress-buffer or send more slowly";
        // A line of that size is held while disconnected: the connection ended between the drop (full, or closing) and now.
        return "stdin line dropped: the egress buffer was full or the connection was closing when it was sent; the connection has "
            + "ended since, and lines are held until the next one";
    }
}
