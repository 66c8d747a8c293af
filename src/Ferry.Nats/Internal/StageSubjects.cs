namespace Ferry.Nats.Internal;

/// <summary>
/// Every subject a stage's gateways use on the bus, as patterns, by the option that makes each: what the gateway publishes (ingress,
/// events, stats), what it takes (egress and everything below it: <c>.&lt;instance&gt;</c>, <c>.any</c>, and in JetStream mode the
/// egress stream takes all of it), the control subject. Two stages on one bus must not meet on any of them
/// (<see cref="BusSubjectCollisions"/>).
/// </summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Subjects">By key: the pattern, and whether stages may share it (events: each message names its stage).</param>
/// <param name="Say">Names a key as the reader of these options knows it (<see cref="NatsGatewayOptions.Say"/>).</param>
internal sealed record StageSubjects(string Stage, IReadOnlyList<(string Key, string Pattern, bool Shareable)> Subjects, Func<string, string> Say)
{
    /// <summary>The subjects of <paramref name="stage"/> with <paramref name="options"/> (valid for it).</summary>
    public static StageSubjects Of(string stage, NatsGatewayOptions options)
    {
        var egress = options.Resolve(options.EgressSubject, stage);
        return new(stage,
        [
            ("ingress_subject", options.Resolve(options.IngressSubject, stage), false),
            ("egress_subject", egress, false),
            ("egress_subject", egress + ".>", false),
            ("control_subject", options.Resolve(options.ControlSubject, stage), false),
            ("events_subject", options.Resolve(options.EventsSubject, stage), true),
            ("stats_subject", options.Resolve(options.StatsSubject, stage), true),
        ], options.Say);
    }
}
