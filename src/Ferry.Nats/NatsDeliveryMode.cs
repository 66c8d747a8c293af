namespace Ferry.Nats;

/// <summary>How a <see cref="NatsGateway"/> hands messages to NATS and takes them back.</summary>
public enum NatsDeliveryMode
{
    /// <summary>
    /// Core NATS: at most once, the fastest. A message NATS pushes back (a failed publish, a full
    /// subscription) is dropped and counted in <see cref="NatsGatewayCounters"/>, never silently.
    /// </summary>
    Core,

    /// <summary>
    /// JetStream: at least once. Ingress publishes wait for the stream's acknowledgement with a bounded
    /// number in flight (a full window stops the stage reading sockets); egress comes from a durable
    /// consumer and is acknowledged once written to the connection's egress buffer.
    /// </summary>
    JetStream,
}
