using System.Globalization;
using System.Numerics;
using Ferry.Bridge.Zmtp;
using Ferry.Framing;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>Which of <see cref="FrameFields"/> a framing carries, and their NATS headers in both directions.</summary>
internal sealed class FieldHeaders
{
    private readonly bool _messageType, _flags, _streamId, _channel, _error;

    private FieldHeaders(bool messageType, bool flags, bool streamId, bool channel, bool error)
        => (_messageType, _flags, _streamId, _channel, _error) = (messageType, flags, streamId, channel, error);

    public static FieldHeaders For(IFraming framing) => framing switch
    {
        HeaderFraming => new(messageType: true, flags: true, false, false, false),
        MuxFraming => new(false, false, streamId: true, false, false),
        ZmtpFraming => new(false, flags: true, false, channel: true, error: true),
        _ => new(false, false, false, false, false),
    };

    public void Write(in FrameFields fields, NatsHeaders headers)
    {
        if (_messageType)
            headers[NatsHeaderNames.MessageType] = fields.MessageType.ToString(CultureInfo.InvariantCulture);
        if (_flags)
            headers[NatsHeaderNames.Flags] = fields.Flags.ToString(CultureInfo.InvariantCulture);
        if (_streamId)
            headers[NatsHeaderNames.StreamId] = fields.StreamId.ToString(CultureInfo.InvariantCulture);
        if (_channel)
            headers[NatsHeaderNames.Channel] = fields.Channel.ToString(CultureInfo.InvariantCulture);
        if (_error)
            headers[NatsHeaderNames.Error] = fields.Error.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Reads whichever field headers are present (any framing: absent means zero).</summary>
    public static bool TryRead(NatsHeaders? headers, out FrameFields fields, out string? problem)
    {
        fields = default;
        problem = null;
        if (headers is null)
            return true;
        ushort type = 0, flags = 0;
        uint stream = 0;
        byte channel = 0, error = 0;
        var ok = Read(headers, NatsHeaderNames.MessageType, ref type, ushort.MaxValue, ref problem)
            && Read(headers, NatsHeaderNames.Flags, ref flags, ushort.MaxValue, ref problem)
            && Read(headers, NatsHeaderNames.StreamId, ref stream, uint.MaxValue, ref problem)
            && Read(headers, NatsHeaderNames.Channel, ref channel, byte.MaxValue, ref problem)
            && Read(headers, NatsHeaderNames.Error, ref error, byte.MaxValue, ref problem);
        fields = new FrameFields(type, flags, stream, channel, error);
        return ok;
    }

    private static bool Read<T>(NatsHeaders headers, string name, ref T value, T max, ref string? problem) where T : struct, IBinaryInteger<T>
    {
        if (!headers.TryGetLastValue(name, out var text))
            return true;
        if (T.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }
        problem = $"header '{name}': '{text}' is not allowed; must be a whole number from 0 to {max}";
        return false;
    }
}
