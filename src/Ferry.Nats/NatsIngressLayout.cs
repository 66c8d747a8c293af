namespace Ferry.Nats;

/// <summary>What one ingress NATS message carries.</summary>
public enum NatsIngressLayout
{
    /// <summary>One packet: the payload is the message's bytes as framed, the metadata are NATS headers.</summary>
    Packet,

    /// <summary>
    /// A whole packet group in the binary layout of <see cref="PacketGroupLayout"/> (docs/nats.md): fewer,
    /// larger NATS messages for high-rate senders.
    /// </summary>
    PacketGroup,
}
