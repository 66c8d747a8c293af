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
    public static IReadOnlyList<string> Keys => NatsGatewayOptions.Keys;

    /// <summary>The gateway options the block describes; null when it has problems (all added to <paramref name="problems"/>).</summary>
    public static NatsGatewayOptions? Read(IReadOnlyList<ISettingNode> settings, ISettingNode? block, List<SettingProblem> problems)
    {
        var before = problems.Count;
        // Spelled as the whole block is, type included: a block of Type alone is PascalCase appsettings, and the keys it does not
        // write (Bus.IngressSubject) are said so.
        var e = new SettingEntries(settings, Keys, problems, "a nats bus", outer: KeySpelling.Of(block?.Children.Select(c => c.Key) ?? []));
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
        // What the gateway says once it runs (a stream JetStream refuses at start) names the key as this file spells it, where it is
        // or would be: bus.ingress_stream in a run file, Bus.IngressStream in appsettings, not the property a developer sets.
        var blockPath = block?.Path is { Length: > 0 } path ? path : "bus";
        o.SayKey = key => e.Node(key)?.Path ?? $"{blockPath}.{e.Say(key)}";
        try
        {
            // What the keys' own parsers refused kept its default, so this reports only the others.
            o.Validate();
        }
        catch (NatsOptionsException ex)
        {
            // The defaults are valid on their own, so a problem at a key the block does not set (ingress_subject, made
            // from {prefix}) follows from one it does (subject_prefix: "a b"): only the keys written are reported then.
            // A key its own parser refused (a list for a subject) kept its default: a problem of that default at the key would quote a
            // value the user never wrote.
            var refused = problems.Skip(before).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            var atKeys = ex.MarkedProblems.Select(p => AtKey(e, p)).OfType<SettingProblem>().ToList();
            problems.AddRange(atKeys.Count > 0 ? atKeys.Where(p => !refused.Contains(p.Key)) : ex.MarkedProblems.Select(p => AtBlock(e, block, p)));
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
            // Not a token, or a name that would make this stage's subjects another's (a stage named ctrl: StageSubjectCollisions);
            // the options' keys in it as the bus block spells them.
            foreach (var problem in ex.MarkedProblems.Where(p => p.StartsWith("stage name", StringComparison.Ordinal)))
                problems.Add(new SettingProblem(nameNode?.Where ?? stage.Where, nameNode?.Path ?? "name", stage.Name,
                    problem.Contains(" cannot be a NATS subject token", StringComparison.Ordinal)
                        ? "cannot be a NATS subject token (bus type nats); use letters, digits, '-' and '_' only"
                        : NatsOptionsException.SayKeys(problem[(problem.IndexOf("' ", 12, StringComparison.Ordinal) + 2)..], options.Say)));
            // A name that makes one of this stage's subjects or streams too long for NATS (with a long prefix): the server refused
            // it only at start, after the stages before it had started, and ferry check had said the file was valid.
            foreach (var problem in ex.MarkedProblems)
                if (TooLongForStage(problem) is var (key, why))
                    problems.Add(new SettingProblem(nameNode?.Where ?? stage.Where, nameNode?.Path ?? "name", stage.Name,
                        $"is too long for {options.Say(key)}: {NatsOptionsException.SayKeys(why, options.Say)}"));
        }
    }

    /// <summary>The key and the reason of a problem "option 'k': 't' is not allowed for this stage: why"; null for another problem.</summary>
    private static (string Key, string Why)? TooLongForStage(string problem)
    {
        const string one = "option '", verdict = " is not allowed for this stage: ";
        var end = problem.StartsWith(one, StringComparison.Ordinal) ? problem.IndexOf("': ", one.Length, StringComparison.Ordinal) : -1;
        var at = end < 0 ? -1 : problem.IndexOf(verdict, end, StringComparison.Ordinal);
        return at < 0 ? null : (problem[one.Length..end], problem[(at + verdict.Length)..]);
    }

    /// <summary>
    /// The stage names that cannot be NATS subject tokens, when the bus block itself has problems: the names' own checks do not
    /// depend on it, and told only after the block was fixed, they came out one run later.
    /// </summary>
    public static void CheckStageTokens(IReadOnlyList<(StageDeclaration Stage, ISettingNode? NameNode)> servers, List<SettingProblem> problems)
    {
        foreach (var (stage, nameNode) in servers)
            if (!Ferry.Nats.Internal.SubjectNames.IsToken(stage.Name))
                problems.Add(new SettingProblem(nameNode?.Where ?? stage.Where, nameNode?.Path ?? "name", stage.Name,
                    "cannot be a NATS subject token (bus type nats); use letters, digits, '-' and '_' only"));
    }

    /// <summary>
    /// Checks each server stage's name (<see cref="CheckStageName"/>), then, of the stages whose names pass, every pair: two stages on
    /// the bus must not meet on a subject however the subjects are configured (a template without <c>{stage}</c> puts every stage on
    /// one subject). A stage that meets an earlier one is refused at its name, naming the other, both keys as the file spells them and
    /// both subjects.
    /// </summary>
    public static void CheckStages(NatsGatewayOptions options, IReadOnlyList<(StageDeclaration Stage, ISettingNode? NameNode)> servers, List<SettingProblem> problems)
    {
        var named = new List<(StageDeclaration Stage, ISettingNode? NameNode)>();
        foreach (var server in servers)
        {
            var before = problems.Count;
            CheckStageName(options, server.Stage, server.NameNode, problems);
            if (problems.Count == before)
                named.Add(server);
        }
        var subjects = named.Select(s => Ferry.Nats.Internal.StageSubjects.Of(s.Stage.Name, options)).ToList();
        foreach (var (stage, problem) in Ferry.Nats.Internal.BusSubjectCollisions.Of(subjects))
        {
            var (declaration, nameNode) = named[subjects.IndexOf(stage)];
            problems.Add(new SettingProblem(nameNode?.Where ?? declaration.Where, nameNode?.Path ?? "name", declaration.Name, problem));
        }
        // In JetStream mode, every pair's streams too: two stages that name one stream (a stream option without {stage}) may have
        // subjects that never meet, and the one started second failed its start, the other already running.
        var streams = named.Select(s => Ferry.Nats.Internal.StageStreams.Of(s.Stage.Name, options)).ToList();
        foreach (var (stage, problem) in Ferry.Nats.Internal.BusStreamCollisions.Of(streams))
        {
            var (declaration, nameNode) = named[streams.IndexOf(stage)];
            problems.Add(new SettingProblem(nameNode?.Where ?? declaration.Where, nameNode?.Path ?? "name", declaration.Name, problem));
        }
    }

    /// <summary>
    /// "option 'max_in_flight': 0 is not allowed; …" at the key's node, as "is not allowed; …"; "options 'ingress_subject' and
    /// 'events_subject' are both 'x'; …" at the one of them the block sets, naming the other. Other keys are said as the block
    /// spells them (<c>EgressSubject</c> in appsettings). Null when the block sets none of the problem's keys.
    /// </summary>
    private static SettingProblem? AtKey(SettingEntries e, string marked)
    {
        if (Subject(marked) is not ({ } keys, { } rest))
            return null;
        var said = NatsOptionsException.SayKeys(rest, e.Say);
        if (keys.Length == 1)
        {
            if (e.Node(keys[0]) is not { } node)
                return null;
            // A URL's password or token is not repeated in a problem line, as the gateway's own lines do not show it.
            var value = keys[0] == "url" ? Ferry.Nats.Internal.NatsUrlText.Redacted(node.Value) : node.Value;
            return new SettingProblem(node.Where, node.Path, value, OptionProblemText.WithoutValue(said, value));
        }
        var written = Array.FindLastIndex(keys, k => e.Node(k) is not null);
        if (written < 0 || e.Node(keys[written]) is not { } at)
            return null;
        var others = string.Join(" and ", keys.Where((_, i) => i != written).Select(e.Say));
        return new SettingProblem(at.Where, at.Path, at.Value, $"and {others} {said}");
    }

    /// <summary>A problem of keys the block does not set, at the block, by those keys as the block would spell them.</summary>
    private static SettingProblem AtBlock(SettingEntries e, ISettingNode? block, string marked)
    {
        var text = Subject(marked) is ({ } keys, { } rest)
            ? $"{string.Join(" and ", keys.Select(e.Say))}: {NatsOptionsException.SayKeys(rest, e.Say)}"
            : NatsOptionsException.SayKeys(marked, e.Say);
        return new SettingProblem(block?.Where ?? "bus", block?.Path ?? "bus", null, text);
    }

    /// <summary>The keys a problem begins with (<c>option 'a': </c> or <c>options 'a' and 'b' </c>) and the text after them; null for another problem.</summary>
    private static (string[] Keys, string Text)? Subject(string problem)
    {
        const string one = "option '", two = "options '";
        if (problem.StartsWith(one, StringComparison.Ordinal) && problem.IndexOf("': ", one.Length, StringComparison.Ordinal) is var end and > 0)
            return ([problem[one.Length..end]], problem[(end + 3)..]);
        if (problem.StartsWith(two, StringComparison.Ordinal) && problem.IndexOf("' and '", two.Length, StringComparison.Ordinal) is var join and > 0
            && problem.IndexOf("' ", join + 7, StringComparison.Ordinal) is var last and > 0)
            return ([problem[two.Length..join], problem[(join + 7)..last]], problem[(last + 2)..]);
        return null;
    }
}
