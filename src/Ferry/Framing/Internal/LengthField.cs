using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Ferry.Framing.Internal;

/// <summary>Reads and writes an unsigned length field of 1, 2, 3, 4 or 8 bytes in either byte order.</summary>
internal static class LengthField
{
    public static bool IsValidSize(int bytes) => bytes is 1 or 2 or 3 or 4 or 8;

    /// <summary>The largest value a field of this size can hold (an 8-byte field is read as signed, as Netty does).</summary>
    public static long MaxValue(int bytes) => bytes == 8 ? long.MaxValue : (1L << (8 * bytes)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read(ReadOnlySpan<byte> field, bool bigEndian) => field.Length switch
    {
        1 => field[0],
        2 => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(field) : BinaryPrimitives.ReadUInt16LittleEndian(field),
        3 => bigEndian
            ? (uint)(field[0] << 16 | field[1] << 8 | field[2])
            : (uint)(field[2] << 16 | field[1] << 8 | field[0]),
        4 => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(field) : BinaryPrimitives.ReadUInt32LittleEndian(field),
        _ => bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(field) : BinaryPrimitives.ReadUInt64LittleEndian(field),
    };

    public static void Write(Span<byte> field, ulong value, bool bigEndian)
    {
        switch (field.Length)
        {
            case 1:
                field[0] = (byte)value;
                break;
            case 2:
                if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)value);
                else BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)value);
                break;
            case 3:
                field[bigEndian ? 0 : 2] = (byte)(value >> 16);
                field[1] = (byte)(value >> 8);
                field[bigEndian ? 2 : 0] = (byte)value;
                break;
            case 4:
                if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(field, (uint)value);
                else BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)value);
                break;
            default:
                if (bigEndian) BinaryPrimitives.WriteUInt64BigEndian(field, value);
                else BinaryPrimitives.WriteUInt64LittleEndian(field, value);
                break;
        }
    }
}
