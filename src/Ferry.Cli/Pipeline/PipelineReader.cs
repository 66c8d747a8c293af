using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Validates a pipeline tree into a <see cref="PipelineDefinition"/>, collecting every problem (file,
/// line, column, key, value, what is allowed) before anything is created. A file that is only a list
/// of stage blocks (seed 003's form) is read as <c>stages</c>.
/// </summary>
internal static class PipelineReader
{
    private static readonly string[] TopKeys = ["stages", "bus", "routes", "telemetry"];
    private static readonly string[] RouteKeys = ["from", "to", "target"];
    private static readonly string[] TelemetryKeys = ["prometheus", "otlp"];
    private static readonly string[] PrometheusKeys = ["listen"];
    private static readonly string[] OtlpKeys = ["endpoint", "protocol", "interval"];

    public static PipelineDefinition? Read(string file, ConfigNode root, List<SettingProblem> problems)
    {
        var before = problems.Count;
        ConfigNode? stagesNode = null, busNode = null, routesNode = null, telemetryNode = null;
        if (root.Kind == ConfigNodeKind.Sequence)
        {
            stagesNode = root;
        }
        else if (root.Kind == ConfigNodeKind.Mapping)
        {
            foreach (var child in root.Nodes)
            {
                switch (SettingEntries.Normalize(child.Key))
                {
                    case "stages": stagesNode = child; break;
                    case "bus": busNode = child; break;
                    case "routes": routesNode = child; break;
                    case "telemetry": telemetryNode = child; break;
                    default:
                        problems.Add(new SettingProblem(child.Where, child.Path, null, StageKeyAtTop(child.Key)
                            ?? SettingEntries.UnknownKey(child.Key, root.Nodes.Select(n => n.Key), TopKeys, "")));
                        break;
                }
            }
        }
        else
        {
            problems.Add(new SettingProblem(root.Where, "(file)", root.Value, "must be a mapping with stages (and bus, routes, telemetry) or a list of stages"));
            return null;
        }

        var binds = new BindClaims();
        var stages = ReadStages(stagesNode, root, binds, problems);
        var bus = ReadBus(busNode, problems);
        var servers = stages.OfType<ServerStageDeclaration>()
            .Select(server => ((StageDeclaration)server, (ISettingNode?)stagesNode?.Nodes.Select(n => n.Find("name")).FirstOrDefault(n => n?.Value == server.Name)))
            .ToList();
        if (bus?.Nats is { } nats)
            NatsBusReader.CheckStages(nats, servers, problems);
        else if (bus is null && string.Equals(busNode?.Find("type")?.Value?.Trim(), "nats", StringComparison.OrdinalIgnoreCase))
            NatsBusReader.CheckStageTokens(servers, problems);
        var declared = stagesNode?.Kind == ConfigNodeKind.Sequence
            ? stagesNode.Nodes.Select(n => n.Find("name")?.Value).OfType<string>().Distinct().ToList()
            : [];
        var routes = ReadRoutes(routesNode, stages, declared, problems);
        var telemetry = ReadTelemetry(telemetryNode, binds, problems);
        // Every stage whose own keys had no problem (StageReader gave it back) is built (its TLS files loaded) as run builds
        // it, whatever else is wrong in the file: what only the built stage finds is listed with the rest, not after the rest
        // is fixed. Nothing starts either way.
        if (stagesNode is not null)
            StagePreflight.Check(stagesNode, stages, problems);
        return problems.Count == before && bus is not null ? new PipelineDefinition(file, stages, bus, routes, telemetry) : null;
    }

    /// <summary>
    /// A stage's key written at the top of the file (seed 004's node configuration copied as it is: host, port, …), told where
    /// it goes; null for any other key. "unknown key 'host' (allowed: stages, bus, routes, telemetry)" did not say it.
    /// </summary>
    private static string? StageKeyAtTop(string key)
    {
        var normal = SettingEntries.Normalize(key);
        if (normal is "name" or "type" or "mode" or "config")
            return $"unknown key '{key}' at the top of a pipeline file: it is a stage's key; write each stage as an item of stages, "
                + "e.g. stages: [{name: node, type: tcp_server, config: {host: 127.0.0.1, port: 3035}}] (allowed here: stages, bus, routes, telemetry)";
        if (!StageReader.ServerKeys.Concat(StageReader.ClientKeys).Any(k => SettingEntries.Normalize(k) == normal))
            return null;
        return $"unknown key '{key}' at the top of a pipeline file: it is a stage's config key; put the stage's keys in its config, "
            + "e.g. stages: [{name: node, type: tcp_server, config: {host: 127.0.0.1, port: 3035}}], as examples/seed004-node.yaml does "
            + "(allowed here: stages, bus, routes, telemetry)";
    }

    private static List<StageDeclaration> ReadStages(ConfigNode? node, ConfigNode root, BindClaims binds, List<SettingProblem> problems)
    {
        var stages = new List<StageDeclaration>();
        if (node is null || node.Kind != ConfigNodeKind.Sequence || node.Nodes.Count == 0)
        {
            // An empty list (stages: [], a file that is []) or stages: with nothing after it is a list without stages, not
            // something other than a list: saying "must be a list" of [] did not say what was missing.
            var (path, what) = node switch
            {
                null => ("stages", "missing key 'stages': a pipeline needs at least one stage"),
                { Kind: ConfigNodeKind.Sequence } or { Kind: ConfigNodeKind.Scalar, Value: null } => (node.Path.Length == 0 ? "(file)" : node.Path,
                    "has no stages; a pipeline needs at least one stage block (name, type, config), e.g. - {name: front, type: tcp_server, config: {bind: 127.0.0.1:9000}}"),
                _ => (node.Path.Length == 0 ? "(file)" : node.Path, "must be a list of stage blocks (name, type, config)"),
            };
            problems.Add(new SettingProblem(node?.Where ?? root.Where, path, node?.Value, what));
            return stages;
        }
        // Ignoring case, as the bus's name claim does when the stages are built: a FERRY__ variable's name may lose its case,
        // so 'Pos' and 'pos' could not be told apart there. Said here, with the rest, not only when 'ferry run' builds them.
        var seen = new Dictionary<string, (string Name, string Where, string Stage)>(StringComparer.OrdinalIgnoreCase);
        foreach (var block in node.Nodes)
        {
            var before = problems.Count;
            var stage = StageReader.Read(block, problems, defaultName: null, stopGracePeriod: null, out var asRead);
            var nameNode = block.Find("name");
            if (nameNode?.Value is { } name && !seen.TryAdd(name, (name, nameNode.Where, block.Where)))
            {
                var first = seen[name];
                // The very name node again: this stage is an alias of a whole stage (- *front), and both would point at the anchor.
                if (first.Where == nameNode.Where)
                {
                    problems.Add(new SettingProblem(block.Where, block.Path, null, $"is an alias of the whole stage at {first.Stage}, so it repeats "
                        + $"its name '{name}'; stage names must be unique (their topics would merge): write this stage out with a name "
                        + "of its own, or repeat only its settings (config: *common)"));
                    continue;
                }
                problems.Add(new SettingProblem(nameNode.Where, nameNode.Path, name, first.Name == name
                    ? $"is already the name of the stage at {first.Where}; stage names must be unique (their topics would merge)"
                    : $"differs only in case from '{first.Name}', the stage at {first.Where}; stage names must be unique ignoring case " +
                      "(an environment variable's name may lose its case, so an override could not tell the two apart)"));
                continue;
            }
            // A stage with a mistake elsewhere still claims its address, so that all problems are listed at once: before, a clash
            // with it came out only once the other mistake was fixed. Not when the address itself is one of its problems.
            var bindNode = BindNode(block);
            if ((stage ?? (AddressReadWell(block, problems, before) ? asRead : null)) is { } claiming
                && binds.Claim(claiming, bindNode.Where) is { } clash)
                problems.Add(new SettingProblem(bindNode.Where, bindNode.Path, bindNode.Value, clash));
            if (stage is not null)
                stages.Add(stage);
        }
        return stages;
    }

    /// <summary>Whether none of the problems found since <paramref name="before"/> is at one of the keys that say where the stage listens.</summary>
    private static bool AddressReadWell(ConfigNode block, List<SettingProblem> problems, int before)
    {
        var addressPaths = new[] { "bind", "host", "port", "address" }.Select(k => ConfigKey(block, k)?.Path).OfType<string>().ToHashSet(StringComparer.Ordinal);
        for (var i = before; i < problems.Count; i++)
            if (addressPaths.Contains(problems[i].Key))
                return false;
        return true;
    }

    /// <summary>A key of the stage's config block (or written flat beside name and type).</summary>
    private static ConfigNode? ConfigKey(ConfigNode block, string key)
        => block.Find("config") is { Kind: ConfigNodeKind.Mapping } config && config.Find(key) is { } inConfig ? inConfig : block.Find(key);

    /// <summary>The node that says where a stage listens: bind, or seed 004's port (or host), or address for a bridge end.</summary>
    private static ConfigNode BindNode(ConfigNode block)
        => ConfigKey(block, "bind") ?? ConfigKey(block, "port") ?? ConfigKey(block, "host") ?? ConfigKey(block, "address") ?? block;

    private static BusDefinition? ReadBus(ConfigNode? node, List<SettingProblem> problems)
    {
        if (node is null || (node.Kind == ConfigNodeKind.Scalar && node.Value is null))
            return PipelineBuses.Find("in_process")!(Array.Empty<ISettingNode>(), null, problems);
        var settings = new List<ISettingNode>();
        ConfigNode? typeNode = null;
        if (node.Kind == ConfigNodeKind.Scalar)
        {
            typeNode = node;
        }
        else if (node.Kind == ConfigNodeKind.Mapping)
        {
            foreach (var child in node.Nodes)
                if (SettingEntries.Normalize(child.Key) == "type")
                    typeNode = child;
                else
                    settings.Add(child);
        }
        var type = typeNode?.Value?.Trim() ?? "in_process";
        var reader = PipelineBuses.Find(type);
        if (reader is null)
        {
            var where = typeNode ?? node;
            problems.Add(new SettingProblem(where.Where, where.Path, type,
                $"is not a bus type{Suggest.DidYouMean(type, PipelineBuses.Types)} (allowed: {string.Join(", ", PipelineBuses.Types)})"));
            return null;
        }
        return reader(settings, node.Kind == ConfigNodeKind.Mapping ? node : null, problems);
    }

    private static List<RouteDefinition> ReadRoutes(ConfigNode? node, List<StageDeclaration> stages, List<string> names, List<SettingProblem> problems)
    {
        var routes = new List<RouteDefinition>();
        if (node is null || (node.Kind == ConfigNodeKind.Scalar && node.Value is null))
            return routes;
        if (node.Kind != ConfigNodeKind.Sequence)
        {
            problems.Add(new SettingProblem(node.Where, node.Path, node.Value, "must be a list of routes (from, to, target)"));
            return routes;
        }
        // Each route's block path (routes[1]), for problems found once every route is read: their line names the route.
        var paths = new Dictionary<RouteDefinition, string>(ReferenceEqualityComparer.Instance);
        foreach (var block in node.Nodes)
        {
            var e = new SettingEntries(block.Children, RouteKeys, problems, "a route");
            var from = e.Text("from");
            var to = e.Text("to");
            var target = e.Choice("target", ("any", RouteTarget.Any), ("all", RouteTarget.All), ("reply", RouteTarget.Reply)) ?? RouteTarget.Any;
            if (from is null || to is null)
            {
                problems.Add(new SettingProblem(block.Where, block.Path, null, "a route needs 'from' (a stage whose packets it takes) and 'to' (a stage that sends them)"));
                continue;
            }
            var fromStage = Stage(e, "from", from, stages, names);
            var toStage = Stage(e, "to", to, stages, names);
            if (fromStage is null || toStage is null)
                continue;
            if (fromStage is BridgeStageDeclaration || toStage is BridgeStageDeclaration)
            {
                e.Problem(fromStage is BridgeStageDeclaration ? "from" : "to", "is a bridge end; routes join TCP server and client stages (bridge ends print their frames)");
                continue;
            }
            if (from == to)
            {
                e.Problem("to", "is the route's own 'from'; to send packets back where they came from, use target: reply on a route pair or ferry serve --echo");
                continue;
            }
            if (target != RouteTarget.Any && toStage is not ServerStageDeclaration && e.Has("target"))
                e.Problem("target", $"only applies when 'to' is a server stage; '{to}' is a client with one connection");
            // A second route between the same two stages delivers every message twice (with a reply pair, every answer
            // too, and each reply loss is reported twice): whatever its target, it is a mistake, said at the second one.
            if (routes.FirstOrDefault(r => r.From == from && r.To == to) is { } first)
            {
                problems.Add(new SettingProblem(block.Where, block.Path, null,
                    $"duplicates {paths[first]} (from '{from}' to '{to}', at {first.Where}); each message of '{from}' would be delivered twice: keep one"));
                continue;
            }
            var route = new RouteDefinition(from, to, target, block.Where);
            routes.Add(route);
            paths.Add(route, block.Path);
        }
        foreach (var reply in routes.Where(r => r.Target == RouteTarget.Reply))
        {
            if (!routes.Any(r => r.From == reply.To && r.To == reply.From && r.Target != RouteTarget.Reply))
                problems.Add(new SettingProblem(reply.Where, $"{paths[reply]}.target", "reply",
                    $"needs the route it answers: from '{reply.To}' to '{reply.From}' (each message '{reply.From}' sends back goes to the connection whose message went out first and is still unanswered)"));
            if (stages.FirstOrDefault(s => s.Name == reply.To) is not ServerStageDeclaration)
                problems.Add(new SettingProblem(reply.Where, $"{paths[reply]}.target", "reply", $"needs a server stage in 'to'; '{reply.To}' is not one"));
            // Answers are matched to requests in order over one upstream connection: that needs a client
            // stage as the upstream, and every message it receives must be a request of this pair.
            if (stages.FirstOrDefault(s => s.Name == reply.From) is not ClientStageDeclaration)
                problems.Add(new SettingProblem(reply.Where, $"{paths[reply]}.target", "reply",
                    $"needs a tcp_client stage in 'from' (one upstream connection that answers each request in order); '{reply.From}' is not one"));
            else if (routes.FirstOrDefault(r => r.Target == RouteTarget.Reply && r.From == reply.From && r != reply) is { } other && routes.IndexOf(other) > routes.IndexOf(reply))
                problems.Add(new SettingProblem(other.Where, $"{paths[other]}.target", "reply",
                    $"is the second reply route from '{reply.From}'; each answer can go back through one reply route only"));
            // Answers are counted one per message: with raw framing a "message" is whatever one read returned, so an
            // answer split over two reads, or two answers in one read, would shift every later answer onto other clients.
            foreach (var name in new[] { reply.To, reply.From }.Distinct())
                if (stages.FirstOrDefault(s => s.Name == name) is { } stage && FramingOf(stage) is Ferry.Framing.RawFraming)
                    problems.Add(new SettingProblem(reply.Where, $"{paths[reply]}.target", "reply",
                        $"needs a framing with message boundaries on both stages, but '{name}' uses raw (its messages are what each read returns: one answer can come in two reads, or two in one, and would go to the wrong clients); set framing on '{name}' (lines, length, delimiter, ...)"));
            foreach (var into in routes.Where(r => r.To == reply.From && r.From != reply.To))
                problems.Add(new SettingProblem(into.Where, $"{paths[into]}.to", into.To,
                    $"also receives the answered requests of '{reply.To}' (target: reply); its answers to other messages would go to the wrong clients, so it may receive from '{reply.To}' only"));
        }
        return routes;
    }

    private static Ferry.Framing.IFraming? FramingOf(StageDeclaration stage) => stage switch
    {
        ServerStageDeclaration server => server.Options.Framing,
        ClientStageDeclaration client => client.Options.Framing,
        _ => null,
    };

    private static StageDeclaration? Stage(SettingEntries e, string key, string name, List<StageDeclaration> stages, List<string> names)
    {
        var stage = stages.FirstOrDefault(s => s.Name == name);
        if (stage is null && !names.Contains(name)) // a declared stage with its own problems is not reported again
            e.Problem(key, names.Count == 0
                ? "is not a stage of this file (it declares none)"
                : $"is not a stage of this file{Suggest.DidYouMean(name, names)} (stages: {string.Join(", ", names)})");
        return stage;
    }

    private static TelemetryDefinition ReadTelemetry(ConfigNode? node, BindClaims binds, List<SettingProblem> problems)
    {
        if (node is null || (node.Kind == ConfigNodeKind.Scalar && node.Value is null))
            return TelemetryDefinition.None;
        var e = new SettingEntries(node.Children, TelemetryKeys, problems, "telemetry");
        string? listen = null;
        if (e.Node("prometheus") is { } prometheus)
        {
            var p = new SettingEntries(prometheus.Children, PrometheusKeys, problems, "telemetry.prometheus");
            listen = p.Text("listen");
            if (listen is null)
                problems.Add(new SettingProblem(prometheus.Where, prometheus.Path, null, "needs 'listen', the scrape endpoint's host:port, e.g. 127.0.0.1:9464 (served at /metrics)"));
            else if (PipelineTelemetry.ListenProblem(listen.Trim()) is { } problem)
                p.Problem("listen", problem);
            else
                binds.ClaimScrape(listen.Trim(), p.Node("listen")!, problems);
        }
        Uri? endpoint = null;
        var protocol = "grpc";
        var interval = TimeSpan.FromSeconds(10);
        if (e.Node("otlp") is { } otlp)
        {
            var o = new SettingEntries(otlp.Children, OtlpKeys, problems, "telemetry.otlp");
            var text = o.Text("endpoint");
            if (text is null)
                problems.Add(new SettingProblem(otlp.Where, otlp.Path, null, "needs 'endpoint', the collector's URL, e.g. http://127.0.0.1:4317"));
            else if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https"))
                o.Problem("endpoint", "is not allowed; use an http or https URL, e.g. http://127.0.0.1:4317 (grpc) or http://127.0.0.1:4318 (http_protobuf)");
            protocol = o.Word("protocol", "grpc", "http_protobuf") ?? protocol;
            if (o.Duration("interval") is { } every)
            {
                if (every < TimeSpan.FromMilliseconds(100))
                    o.Problem("interval", "is too short; use at least 100ms");
                else
                    interval = every;
            }
        }
        return new TelemetryDefinition(listen?.Trim(), endpoint, protocol, interval);
    }
}
