using System.Buffers;
using Ferry.Framing;

namespace Ferry.Tests.Framing.Support;

/// <summary>Random messages a framing can carry, their encoding, and what decoding them must give back.</summary>
internal static class Messages
{
    /// <summary>Payloads stay small so that streams of dozens of messages can be cut at every byte.</summary>
    private const int LargestPayload = 300;

    public static List<DecodedFrame> Generate(IFraming framing, Random rng, int count)
    {
        var messages = new List<DecodedFrame>(count);
        while (messages.Count < count)
        {
            var message = Next(framing, rng);
            if (message is not null)
                messages.Add(message);
        }
        return messages;
    }

    public static byte[] Encode(IFraming framing, IEnumerable<DecodedFrame> messages)
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (var m in messages)
        {
            var before = output.WrittenCount;
            framing.Encoder.Encode(m.Payload, m.Fields, output);
            Assert.Equal(framing.Encoder.GetEncodedLength(m.Payload.Length), output.WrittenCount - before);
        }
        return output.WrittenSpan.ToArray();
    }

    /// <summary>What the decoder delivers for a message the encoder wrote.</summary>
    public static DecodedFrame Expected(IFraming framing, DecodedFrame sent)
    {
        var payload = framing switch
        {
            DelimiterFraming { IncludeDelimiter: true, Position: DelimiterPosition.Suffix } d => [.. sent.Payload, .. d.Delimiter],
            DelimiterFraming { IncludeDelimiter: true } d => [.. d.Delimiter, .. sent.Payload],
            // The payload carries part of the header, whose length field the encoder rewrites.
            LengthFieldFraming l when l.Strip < l.Offset + l.FieldBytes => Encode(framing, [sent])[l.Strip..],
            _ => sent.Payload,
        };
        var fields = framing switch
        {
            HeaderFraming => new FrameFields(MessageType: sent.Fields.MessageType, Flags: sent.Fields.Flags),
            MuxFraming => new FrameFields(StreamId: sent.Fields.StreamId),
            _ => default,
        };
        return new DecodedFrame(payload, fields);
    }

    private static DecodedFrame? Next(IFraming framing, Random rng)
    {
        var fields = new FrameFields((ushort)rng.Next(0x10000), (ushort)rng.Next(0x10000), (uint)rng.NextInt64(0x1_0000_0000));
        switch (framing)
        {
            case FixedFraming f:
                return new DecodedFrame(RandomBytes(rng, f.Size), fields);

            case DelimiterFraming d:
            {
                var payload = DelimiterPayload(rng, d.Delimiter, Length(rng, 0, Math.Min(d.MaxFrameBytes, LargestPayload)));
                // The first delimiter in payload + delimiter must be the one the encoder adds, and a
                // line must not end in '\r', which lines drops with the '\n'.
                byte[] framed = [.. payload, .. d.Delimiter];
                if (framed.AsSpan().IndexOf(d.Delimiter) != payload.Length)
                    return null;
                if (d.Spec.StartsWith("lines", StringComparison.Ordinal) && payload.Length > 0 && payload[^1] == '\r')
                    return null;
                return new DecodedFrame(payload, fields);
            }

            case LengthFieldFraming l:
            {
                var header = l.Offset + l.FieldBytes;
                long fieldMax = l.FieldBytes == 8 ? long.MaxValue : (1L << (8 * l.FieldBytes)) - 1;
                var min = Math.Max(0, header - l.Strip);
                var max = (int)Math.Min(Math.Min(l.MaxFrameBytes, LargestPayload), fieldMax + l.Adjust + header - l.Strip);
                var min2 = (int)Math.Max(min, (long)header + l.Adjust - l.Strip); // the field's value must not be negative
                return min2 > max ? null : new DecodedFrame(RandomBytes(rng, Length(rng, min2, max)), fields);
            }

            default:
                return new DecodedFrame(RandomBytes(rng, Length(rng, 0, Math.Min(framing.MaxFrameBytes, LargestPayload))), fields);
        }
    }

    /// <summary>Mostly short, often empty, sometimes exactly the largest allowed.</summary>
    private static int Length(Random rng, int min, int max) => rng.Next(10) switch
    {
        0 or 1 => min,
        2 => max,
        3 => rng.Next(min, max + 1),
        _ => rng.Next(min, Math.Min(max, min + 40) + 1),
    };

    private static byte[] RandomBytes(Random rng, int length)
    {
        var bytes = new byte[length];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Bytes rich in the delimiter's own bytes (and '\r'), so partial matches abound.</summary>
    private static byte[] DelimiterPayload(Random rng, ReadOnlySpan<byte> delimiter, int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = rng.Next(4) switch
            {
                0 => delimiter[rng.Next(delimiter.Length)],
                1 => (byte)'\r',
                _ => (byte)rng.Next(256),
            };
        }
        // Break whole delimiters (keeping partial ones) with a byte the delimiter does not contain,
        // which cannot form a new one.
        byte filler = 0;
        while (delimiter.Contains(filler))
            filler++;
        for (var at = bytes.AsSpan().IndexOf(delimiter); at >= 0; at = bytes.AsSpan().IndexOf(delimiter))
            bytes[at] = filler;
        return bytes;
    }
}
