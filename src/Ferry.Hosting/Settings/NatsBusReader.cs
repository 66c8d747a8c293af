using Ferry.Nats;

namespace Ferry.Hosting.Settings;

/// <summary>
/// Reads a <c>bus: {type: nats, …}</c> block (its keys other than <c>type</c>) into
/// <see cref="NatsGatewayOptions"/>, with the gateway's own snake_case names (<c>url</c>, <c>mode</c>,
/// <c>subject_prefix</c>, <c>max_in_flight</c>, …), and runs the gateway's validation so that each of its
/// problems is reported at the key it is about. Every key is optional (<c>url</c> defaults to
/// <c>nats://127.0.0.1:4222</c>). Stage names are checked as subject tokens by
/// <see cref="CheckStageName"/>.
/// </summary>
internal static class NatsBusReader
{
    /// <summary>Every key a NATS bus block takes (besides <c>type</c>).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "url", "mode", "subject_prefix", "ingress_subject", "egress_subject", "control_subject", "events_subject", "stats_subject",
        "ingress_layout", "max_in_flight", "max_pending_egress", "ack_timeout", "ingress_stream", "egress_stream",
        "publish_timeout", "write_buffer_bytes",
    ];

    /// <summary>The gateway options the block describes; null when it has problems (all added to <paramref name="problems"/>).</summary>
    public static NatsGatewayOptions? Read(IReadOnlyList<ISettingNode> settings, ISettingNode? block, List<SettingProblem> problems)
    {
        var before = problems.Count;
        var e = new SettingEntries(settings, Keys, problems, "a nats bus");
        var o = new NatsGatewayOptions();
        if (e.Text("url") is { } url) o.Url = url.Trim();
        if (e.Choice("mode", ("core", NatsDeliveryMode.Core), ("jetstream", NatsDeliveryMode.JetStream)) is { } mode) o.Mode = mode;
        if (e.Text("subject_prefix") is { } prefix) o.SubjectPrefix = prefix.Trim();
        if (e.Text("ingress_subject") is { } ingress) o.IngressSubject = ingress.Trim();
        if (e.Text("egress_subject") is { } egress) o.EgressSubject = egress.Trim();
        if (e.Text("control_subject") is { } control) o.ControlSubject = control.Trim();
        if (e.Text("events_subject") is { } events) o.EventsSubject = events.Trim();
        if (e.Text("stats_subject") is { } stats) o.StatsSubject = stats.Trim();
        if (e.Choice("ingress_layout", ("packet", NatsIngressLayout.Packet), ("packet_group", NatsIngressLayout.PacketGroup)) is { } layout) o.IngressLayout = layout;
        if (e.Int("max_in_flight", 1, 65536) is { } inFlight) o.MaxInFlight = inFlight;
        if (e.Int("max_pending_egress", 1, 65536) is { } pending) o.MaxPendingEgress = pending;
        if (e.Duration("ack_timeout") is { } ack) o.AckTimeout = ack;
        if (e.Text("ingress_stream") is { } ingressStream) o.IngressStream = ingressStream.Trim();
        if (e.Text("egress_stream") is { } egressStream) o.EgressStream = egressStream.Trim();
        if (e.Duration("publish_timeout") is { } publishTimeout) o.PublishTimeout = publishTimeout;
        if (e.Size("write_buffer_bytes", 1) is { } writeBuffer) o.WriteBufferBytes = writeBuffer;
        try
        {
            // What the keys' own parsers refused kept its default, so this reports only the others.
            o.Validate();
        }
        catch (NatsOptionsException ex)
        {
            // The defaults are valid on their own, so a problem at a key the block does not set (ingress_subject, made
            // from {prefix}) follows from one it does (subject_prefix: "a b"): only the keys written are reported then.
            var atKeys = ex.Problems.Select(p => AtKey(e, p)).OfType<SettingProblem>().ToList();
            problems.AddRange(atKeys.Count > 0 ? atKeys : ex.Problems.Select(p => new SettingProblem(block?.Where ?? "bus", block?.Path ?? "bus", null, p)));
        }
        return problems.Count == before ? o : null;
    }

    /// <summary>Adds a problem when the stage declared at <paramref name="stage"/> cannot have subjects on this bus (its name is not a subject token).</summary>
    public static void CheckStageName(NatsGatewayOptions options, StageDeclaration stage, ISettingNode? nameNode, List<SettingProblem> problems)
    {
        try
        {
            options.Validate(stage.Name);
        }
        catch (NatsOptionsException ex)
        {
            foreach (var problem in ex.Problems.Where(p => p.StartsWith("stage name", StringComparison.Ordinal)))
                problems.Add(new SettingProblem(nameNode?.Where ?? stage.Where, nameNode?.Path ?? "name", stage.Name,
                    "cannot be a NATS subject token (bus type nats); use letters, digits, '-' and '_' only"));
        }
    }

    /// <summary>"option 'max_in_flight': 0 is not allowed; …" at the key's node, as "is not allowed; …"; null when the block does not set that key.</summary>
    private static SettingProblem? AtKey(SettingEntries e, string problem)
    {
        const string prefix = "option '";
        var end = problem.StartsWith(prefix, StringComparison.Ordinal) ? problem.IndexOf('\'', prefix.Length) : -1;
        var key = end < 0 ? null : problem[prefix.Length..end];
        if (key is null || e.Node(key) is not { } node)
            return null;
        var rest = problem[(problem.IndexOf(": ", end, StringComparison.Ordinal) + 2)..];
        return new SettingProblem(node.Where, node.Path, node.Value, OptionProblemText.WithoutValue(rest, node.Value));
    }
}
