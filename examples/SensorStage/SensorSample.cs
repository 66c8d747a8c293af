using System.Buffers.Binary;

namespace SensorStage;

/// <summary>
/// One reading of a simulated IMU, 16 bytes big-endian on the wire:
/// <c>| sensor u16 | sequence u32 | x i16 | y i16 | z i16 | status u32 |</c>.
/// </summary>
/// <param name="Sensor">Which sensor.</param>
/// <param name="Sequence">Counts up from 0 per sensor; a jump is a lost reading.</param>
/// <param name="X">Axis reading.</param>
/// <param name="Y">Axis reading.</param>
/// <param name="Z">Axis reading.</param>
/// <param name="Status">Sensor status bits.</param>
public readonly record struct SensorSample(ushort Sensor, uint Sequence, short X, short Y, short Z, uint Status)
{
    /// <summary>Bytes per sample on the wire.</summary>
    public const int Size = 16;

    /// <summary>Reads one sample from the first <see cref="Size"/> bytes.</summary>
    public static SensorSample Read(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadUInt16BigEndian(bytes),
        BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]),
        BinaryPrimitives.ReadInt16BigEndian(bytes[6..]),
        BinaryPrimitives.ReadInt16BigEndian(bytes[8..]),
        BinaryPrimitives.ReadInt16BigEndian(bytes[10..]),
        BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]));

    /// <summary>Writes the sample into the first <see cref="Size"/> bytes.</summary>
    public void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt16BigEndian(bytes, Sensor);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[2..], Sequence);
        BinaryPrimitives.WriteInt16BigEndian(bytes[6..], X);
        BinaryPrimitives.WriteInt16BigEndian(bytes[8..], Y);
        BinaryPrimitives.WriteInt16BigEndian(bytes[10..], Z);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[12..], Status);
    }

    /// <summary>The reading a simulated sensor produces at a sequence number (so a receiver can check every byte).</summary>
    public static SensorSample Simulated(ushort sensor, uint sequence)
        => new(sensor, sequence, (short)(sequence * 3), (short)(sensor * 100), (short)-(int)(sequence % 30000), Status: 0x1);
}
