using System.Buffers;
using Ferry.Bridge.Zmtp;

namespace Ferry.Bridge.Internal;

/// <summary>
/// Writes one <see cref="Frame"/> as Rogue's four-part ZeroMQ message (<see cref="RogueMessage"/>):
/// flags (2 octets, little-endian), channel (1), error (1), payload (any length, possibly empty).
/// </summary>
internal static class BridgeMessageWriter
{
    public static long GetEncodedLength(int payloadLength) => RogueMessage.GetEncodedLength(payloadLength);

    public static void Write(in Frame frame, IBufferWriter<byte> output) =>
        RogueMessage.Write(frame.Payload.Span, frame.Flags, frame.Channel, frame.Error, output);
}
