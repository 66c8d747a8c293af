using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace Ferry.Nats;

/// <summary>
/// The binary layout of a whole packet group in one NATS message (<see cref="NatsIngressLayout.PacketGroup"/>),
/// all integers little-endian:
/// <code>
/// "FPG1" | u32 count | count × packet
/// packet: u32 conn instance | u64 conn sequence | i64 received (UTC ticks, 100 ns since 0001-01-01)
///         | u8 address family (4 or 6) | 16 bytes address (IPv4 in the first 4) | u16 port
///         | u16 msg type | u16 flags | u32 stream id | u8 channel | u8 error | u32 payload length | payload
/// </code>
/// </summary>
public static class PacketGroupLayout
{
    /// <summary>The layout's name, sent in the <see cref="NatsHeaderNames.Layout"/> header.</summary>
    public const string Name = "ferry-packet-group/1";

    /// <summary>Bytes before each packet's payload.</summary>
    public const int PacketHeaderBytes = 53;

    private const uint Magic = 0x31475046; // "FPG1" read as little-endian u32

    /// <summary>The bytes <see cref="Write"/> produces for the group.</summary>
    public static int GetLength(PacketGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return 8 + group.Count * PacketHeaderBytes + group.TotalBytes;
    }

    /// <summary>Writes the group in the layout.</summary>
    public static void Write(PacketGroup group, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(output);
        var head = output.GetSpan(8);
        BinaryPrimitives.WriteUInt32LittleEndian(head, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(head[4..], (uint)group.Count);
        output.Advance(8);
        foreach (var packet in group)
        {
            var span = output.GetSpan(PacketHeaderBytes)[..PacketHeaderBytes];
            span.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(span, packet.ConnectionId.Instance);
            BinaryPrimitives.WriteUInt64LittleEndian(span[4..], packet.ConnectionId.Sequence);
            BinaryPrimitives.WriteInt64LittleEndian(span[12..], packet.ReceivedAtUtcTicks);
            var address = packet.Peer.Address;
            span[20] = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? (byte)6 : (byte)4;
            address.TryWriteBytes(span.Slice(21, 16), out _);
            BinaryPrimitives.WriteUInt16LittleEndian(span[37..], (ushort)packet.Peer.Port);
            var fields = packet.Fields;
            BinaryPrimitives.WriteUInt16LittleEndian(span[39..], fields.MessageType);
            BinaryPrimitives.WriteUInt16LittleEndian(span[41..], fields.Flags);
            BinaryPrimitives.WriteUInt32LittleEndian(span[43..], fields.StreamId);
            span[47] = fields.Channel;
            span[48] = fields.Error;
            BinaryPrimitives.WriteUInt32LittleEndian(span[49..], (uint)packet.Payload.Length);
            output.Advance(PacketHeaderBytes);
            output.Write(packet.Payload.Span);
        }
    }

    /// <summary>Reads a message written by <see cref="Write"/>; payloads are slices of <paramref name="message"/>.</summary>
    /// <exception cref="FormatException">The bytes are not in the layout; the message says where.</exception>
    public static IReadOnlyList<GroupedPacket> Read(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        if (span.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic)
            throw new FormatException($"not a {Name} message: it must start with \"FPG1\" and a count");
        var count = BinaryPrimitives.ReadUInt32LittleEndian(span[4..]);
        if (count > (uint)(span.Length - 8) / PacketHeaderBytes)
            throw new FormatException($"{Name}: count {count} does not fit in {span.Length} bytes");
        var packets = new GroupedPacket[count];
        var offset = 8;
        for (var i = 0; i < packets.Length; i++)
        {
            if (span.Length - offset < PacketHeaderBytes)
                throw new FormatException($"{Name}: packet {i} header is cut short at byte {offset}");
            var p = span.Slice(offset, PacketHeaderBytes);
            var family = p[20];
            if (family is not (4 or 6))
                throw new FormatException($"{Name}: packet {i} has address family {family}; allowed: 4 or 6");
            var address = new IPAddress(p.Slice(21, family == 4 ? 4 : 16));
            var length = BinaryPrimitives.ReadUInt32LittleEndian(p[49..]);
            offset += PacketHeaderBytes;
            if (length > (uint)(span.Length - offset))
                throw new FormatException($"{Name}: packet {i} declares {length} payload bytes, {span.Length - offset} remain");
            packets[i] = new GroupedPacket(
                new ConnectionId(BinaryPrimitives.ReadUInt32LittleEndian(p), BinaryPrimitives.ReadUInt64LittleEndian(p[4..])),
                new IPEndPoint(address, BinaryPrimitives.ReadUInt16LittleEndian(p[37..])),
                new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(p[12..]), TimeSpan.Zero),
                new FrameFields(BinaryPrimitives.ReadUInt16LittleEndian(p[39..]), BinaryPrimitives.ReadUInt16LittleEndian(p[41..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(p[43..]), p[47], p[48]),
                message.Slice(offset, (int)length));
            offset += (int)length;
        }
        if (offset != span.Length)
            throw new FormatException($"{Name}: {span.Length - offset} bytes left after {count} packets");
        return packets;
    }
}
