namespace Ferry.Nats.Internal;

/// <summary>
/// The JetStream streams a stage's gateways create or use, by the option that names each: none in core mode, which has no streams.
/// Two stages on one server must not name the same stream (<see cref="BusStreamCollisions"/>).
/// </summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Streams">By key: the option's template and the stream name it makes for the stage.</param>
/// <param name="Say">Names a key as the reader of these options knows it (<see cref="NatsGatewayOptions.Say"/>).</param>
internal sealed record StageStreams(string Stage, IReadOnlyList<(string Key, string Template, string Name)> Streams, Func<string, string> Say)
{
    /// <summary>The streams of <paramref name="stage"/> with <paramref name="options"/> (valid for it).</summary>
    public static StageStreams Of(string stage, NatsGatewayOptions options)
        => new(stage, options.Mode != NatsDeliveryMode.JetStream ? [] :
        [
            ("ingress_stream", options.IngressStream, options.StreamName(options.IngressStream, stage)),
            ("egress_stream", options.EgressStream, options.StreamName(options.EgressStream, stage)),
        ], options.Say);
}
