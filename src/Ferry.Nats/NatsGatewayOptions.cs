using Ferry.Nats.Internal;
using Ferry.Stages;

namespace Ferry.Nats;

/// <summary>
/// Settings of a <see cref="NatsGateway"/>: plain settable properties, so a configuration file can bind
/// them (their snake_case names, e.g. <c>max_in_flight</c>, are the ones error messages use).
/// Subject and stream names are templates: <c>{prefix}</c> is <see cref="SubjectPrefix"/>, <c>{stage}</c>
/// the stage's name.
/// </summary>
public sealed class NatsGatewayOptions
{
    /// <summary>The NATS server, e.g. <c>nats://127.0.0.1:4222</c> (<c>url</c>).</summary>
    public string Url { get; set; } = "nats://127.0.0.1:4222";

    /// <summary>At most once (<see cref="NatsDeliveryMode.Core"/>, default) or at least once (<c>mode</c>).</summary>
    public NatsDeliveryMode Mode { get; set; } = NatsDeliveryMode.Core;

    /// <summary>The first token of every default subject (<c>subject_prefix</c>, default <c>ferry</c>).</summary>
    public string SubjectPrefix { get; set; } = "ferry";

    /// <summary>Where packets are published (<c>ingress_subject</c>, default <c>{prefix}.{stage}.in</c>).</summary>
    public string IngressSubject { get; set; } = "{prefix}.{stage}.in";

    /// <summary>
    /// The egress subject (<c>egress_subject</c>, default <c>{prefix}.{stage}.out</c>). Every gateway of the
    /// stage takes this subject itself (for all and groups), <c>.&lt;instance&gt;</c> below it (replies for its
    /// own connections) and <c>.any</c> below it (one message to one connection of one gateway).
    /// </summary>
    public string EgressSubject { get; set; } = "{prefix}.{stage}.out";

    /// <summary>The kill switch and group commands (<c>control_subject</c>, default <c>{prefix}.ctrl.{stage}</c>).</summary>
    public string ControlSubject { get; set; } = "{prefix}.ctrl.{stage}";

    /// <summary>Lifecycle events as JSON (<c>events_subject</c>, default <c>{prefix}.{stage}.events</c>).</summary>
    public string EventsSubject { get; set; } = "{prefix}.{stage}.events";

    /// <summary>Socket stats and the gateway's counters as JSON (<c>stats_subject</c>, default <c>{prefix}.{stage}.stats</c>).</summary>
    public string StatsSubject { get; set; } = "{prefix}.{stage}.stats";

    /// <summary>One packet per NATS message (default) or one packet group (<c>ingress_layout</c>).</summary>
    public NatsIngressLayout IngressLayout { get; set; } = NatsIngressLayout.Packet;

    /// <summary>
    /// JetStream: ingress publishes waiting for their acknowledgement at once (<c>max_in_flight</c>, default
    /// 256). When the window is full the stage's publish waits, so it stops reading sockets.
    /// </summary>
    public int MaxInFlight { get; set; } = 256;

    /// <summary>
    /// Egress messages taken from NATS and not yet written (<c>max_pending_egress</c>, default 256): the
    /// JetStream consumer's <c>max_ack_pending</c>, the core subscription's queue.
    /// </summary>
    public int MaxPendingEgress { get; set; } = 256;

    /// <summary>How long one JetStream publish waits for its acknowledgement before it is sent again (<c>ack_timeout</c>, default 5 s).</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Core mode: how long a publish may wait for room in the client's write buffer (the server is slow,
    /// stopped or gone) before its message is dropped and counted in
    /// <see cref="NatsGatewayCounters.IngressDropped"/> (<c>publish_timeout</c>, default 5 s). While it waits
    /// the stage reads no socket. Also the NATS client's timeout for its other commands.
    /// </summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Bytes the NATS client may hold unsent before a publish waits (<c>write_buffer_bytes</c>, default 256 KiB,
    /// 64 KiB to 64 MiB). Larger means the stage's thread is held less often by the client's socket writer;
    /// in core mode it is also what an outage can cost. Beyond about 256 KiB the client's 16 KiB buffer
    /// segments outnumber what the shared array pool keeps, and every one is allocated anew (docs/benchmarks.md).
    /// </summary>
    public int WriteBufferBytes { get; set; } = 256 * 1024;

    /// <summary>JetStream: the stream of ingress subjects, created when missing (<c>ingress_stream</c>, default <c>{prefix}_{stage}_in</c>).</summary>
    public string IngressStream { get; set; } = "{prefix}_{stage}_in";

    /// <summary>JetStream: the stream of egress subjects, created when missing (<c>egress_stream</c>, default <c>{prefix}_{stage}_out</c>).</summary>
    public string EgressStream { get; set; } = "{prefix}_{stage}_out";

    /// <summary>
    /// Throws <see cref="NatsOptionsException"/> naming every invalid option, what it is and what is allowed;
    /// with <paramref name="stage"/>, also checks that the stage's name can be a subject token.
    /// </summary>
    public void Validate(string? stage = null)
    {
        var problems = new List<string>();
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || (uri.Scheme is not ("nats" or "tls" or "ws" or "wss")))
            problems.Add($"option 'url': '{NatsUrlText.Redacted(Url)}' is not allowed; use nats://host:port (or tls://, ws://, wss://)");
        // The client reads only the server's address and credentials from it: a path or query would be dropped unsaid.
        else if (uri.Scheme is "nats" or "tls" && (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0 || uri.Fragment.Length > 0))
            problems.Add($"option 'url': '{NatsUrlText.Redacted(Url)}' is not allowed: a NATS URL names a server, and its path, query or fragment "
                + $"would be ignored; use nats://host:port, e.g. {uri.Scheme}://{uri.Authority}");
        if (!Enum.IsDefined(Mode))
            problems.Add($"option 'mode': {Mode} is not allowed; must be core or jetstream");
        if (!Enum.IsDefined(IngressLayout))
            problems.Add($"option 'ingress_layout': {IngressLayout} is not allowed; must be packet or packet_group");
        if (string.IsNullOrEmpty(SubjectPrefix) || !SubjectNames.IsSubject(SubjectPrefix))
            problems.Add($"option 'subject_prefix': '{SubjectPrefix}' is not allowed; use subject tokens (letters, digits, '-', '_') separated by '.'");
        if (stage is not null && !SubjectNames.IsToken(stage))
            problems.Add($"stage name '{stage}' cannot be a NATS subject token; use letters, digits, '-' and '_' only");
        CheckSubject(problems, "ingress_subject", IngressSubject, stage);
        CheckSubject(problems, "egress_subject", EgressSubject, stage);
        CheckSubject(problems, "control_subject", ControlSubject, stage);
        CheckSubject(problems, "events_subject", EventsSubject, stage);
        CheckSubject(problems, "stats_subject", StatsSubject, stage);
        CheckStream(problems, "ingress_stream", IngressStream, stage);
        CheckStream(problems, "egress_stream", EgressStream, stage);
        CheckSeparate(problems, stage);
        // One problem for the name, with the first meeting spelled out: ctrl meets four other names, and four lines said one thing.
        if (stage is not null && SubjectNames.IsToken(stage) && SubjectNames.IsSubject(SubjectPrefix ?? "")
            && StageSubjectCollisions.Of(stage, SubjectPrefix!, SubjectTemplates().Where(t => SubjectNames.IsSubject(Resolve(t.Template, stage))).ToList(),
                "egress_subject").ToList() is [var first, .. var more])
            problems.Add(more.Count == 0 ? first : $"{first} ({more.Count} more of its subjects meet another stage's the same way)");
        if (MaxInFlight < 1 || MaxInFlight > 65536)
            problems.Add($"option 'max_in_flight': {MaxInFlight} is not allowed; must be from 1 to 65536");
        if (MaxPendingEgress < 1 || MaxPendingEgress > 65536)
            problems.Add($"option 'max_pending_egress': {MaxPendingEgress} is not allowed; must be from 1 to 65536");
        if (AckTimeout < TimeSpan.FromMilliseconds(10) || AckTimeout > TimeSpan.FromMinutes(10))
            problems.Add($"option 'ack_timeout': {Ferry.Stages.Internal.DurationWords.Of(AckTimeout)} is not allowed; must be from 10ms to 10m");
        if (PublishTimeout < TimeSpan.FromMilliseconds(10) || PublishTimeout > TimeSpan.FromMinutes(10))
            problems.Add($"option 'publish_timeout': {Ferry.Stages.Internal.DurationWords.Of(PublishTimeout)} is not allowed; must be from 10ms to 10m");
        if (WriteBufferBytes < 64 * 1024 || WriteBufferBytes > 64 * 1024 * 1024)
            problems.Add($"option 'write_buffer_bytes': {WriteBufferBytes} is not allowed; must be from 65536 (64 KiB) to 67108864 (64 MiB)");
        if (problems.Count > 0)
            throw NatsOptionsException.Marked(problems);
    }

    /// <summary>
    /// How the reader that made these options names one of them (by its snake_case key) in what the gateway says once it runs, e.g. a
    /// stream JetStream refused at start: a file's key as the file spells it (<c>bus.ingress_stream</c>, <c>Bus.IngressStream</c>),
    /// ferry serve's flag. Null for options set in code: they are named by their properties (<c>NatsGatewayOptions.IngressStream</c>),
    /// as <see cref="NatsOptionsException.Problems"/> names them.
    /// </summary>
    internal Func<string, string>? SayKey { get; set; }

    /// <summary>A copy as the options are now: what a gateway keeps, so that a later change to the caller's object is not half seen.</summary>
    internal NatsGatewayOptions Copy() => (NatsGatewayOptions)MemberwiseClone();

    /// <summary>The option <paramref name="key"/> in the words of whoever set these options (<see cref="SayKey"/>).</summary>
    internal string Say(string key) => SayKey?.Invoke(key) ?? PropertyOf(key);

    /// <summary>
    /// How the reader of these options turns JetStream off, after "set": <c>NatsGatewayOptions.Mode to NatsDeliveryMode.Core</c> in code,
    /// <c>bus.mode to core</c> in a run file, <c>--nats-mode to core</c> for ferry serve.
    /// </summary>
    internal string SayCoreMode => SayKey is null ? $"{PropertyOf("mode")} to {nameof(NatsDeliveryMode)}.{nameof(NatsDeliveryMode.Core)}" : $"{SayKey("mode")} to core";

    /// <summary><c>ingress_stream</c> as a .NET developer sets it: <c>NatsGatewayOptions.IngressStream</c>.</summary>
    internal static string PropertyOf(string key) => $"{nameof(NatsGatewayOptions)}.{StageOptionsException.Property(key)}";

    /// <summary>Every option's key (snake_case), as a configuration file writes it and the problems name it.</summary>
    internal static readonly IReadOnlyList<string> Keys =
    [
        "url", "mode", "subject_prefix", "ingress_subject", "egress_subject", "control_subject", "events_subject", "stats_subject",
        "ingress_layout", "max_in_flight", "max_pending_egress", "ack_timeout", "ingress_stream", "egress_stream",
        "publish_timeout", "write_buffer_bytes",
    ];

    /// <summary>The subject options by key, those that are set (null is said by <see cref="CheckSubject"/>).</summary>
    private List<(string Key, string Template)> SubjectTemplates()
        => new (string Key, string? Template)[]
            {
                ("ingress_subject", IngressSubject), ("egress_subject", EgressSubject), ("control_subject", ControlSubject),
                ("events_subject", EventsSubject), ("stats_subject", StatsSubject),
            }
            .Where(t => t.Template is not null).Select(t => (t.Key, t.Template!)).ToList();

    internal string Resolve(string template, string stage)
        => template.Replace("{prefix}", SubjectPrefix, StringComparison.Ordinal).Replace("{stage}", stage, StringComparison.Ordinal);

    /// <summary>The stream a stream option names for <paramref name="stage"/>: a '.' (of the prefix) is not allowed in a stream name, so it is '_'.</summary>
    internal string StreamName(string template, string stage) => Resolve(template, stage).Replace('.', '_');

    private void CheckSubject(List<string> problems, string option, string template, string? stage)
    {
        var resolved = template is null ? "" : Resolve(template, stage ?? StagePlaceholder);
        if (!SubjectNames.IsSubject(resolved))
            problems.Add($"option '{option}': '{template}' is not allowed; use subject tokens (letters, digits, '-', '_', {{prefix}}, {{stage}}) separated by '.', no wildcards");
        // nats-server closes the connection of a client whose protocol line is longer than its max_control_line (4 KiB by default):
        // a publish to a longer subject ended the connection, and the client reconnected and published again, for ever.
        else if (resolved.Length > LongestSubject)
            problems.Add($"option '{option}': '{template}' is not allowed for this {(stage is null ? "prefix" : "stage")}: it makes a subject of {resolved.Length} "
                + $"characters; at most {LongestSubject} (nats-server closes the connection of a client whose protocol line exceeds its max_control_line, "
                + $"4 KiB by default): use a shorter {Mark("subject_prefix")}{(stage is null ? "" : " or stage name")}");
    }

    /// <summary>The longest subject a gateway uses (below the egress subject too): far enough below nats-server's 4 KiB control line.</summary>
    private const int LongestSubject = 1000;

    /// <summary>
    /// Each subject needs its own traffic: a shared subject would, e.g., write every ingress packet or event to
    /// the TCP clients (the egress subject) or read packets as control commands. The gateways subscribe to the
    /// subjects one token below the egress subject (<c>.&lt;instance&gt;</c>, <c>.any</c>), and in JetStream mode
    /// the egress stream takes every subject below it, so the others may not be there either.
    /// </summary>
    private void CheckSeparate(List<string> problems, string? stage)
    {
        var placeholder = stage ?? StagePlaceholder;
        (string Option, string? Subject)[] subjects =
        [
            ("ingress_subject", Valid(IngressSubject)), ("egress_subject", Valid(EgressSubject)), ("control_subject", Valid(ControlSubject)),
            ("events_subject", Valid(EventsSubject)), ("stats_subject", Valid(StatsSubject)),
        ];
        var egress = subjects[1].Subject;
        for (var i = 0; i < subjects.Length; i++)
        {
            if (subjects[i].Subject is not { } subject)
                continue;
            for (var j = i + 1; j < subjects.Length; j++)
                if (subject == subjects[j].Subject)
                    problems.Add($"options '{subjects[i].Option}' and '{subjects[j].Option}' are both '{Shown(subject)}'; each needs a subject of its own");
            if (egress is not null && i != 1 && subject.StartsWith(egress + ".", StringComparison.Ordinal))
                problems.Add($"option '{subjects[i].Option}': '{Shown(subject)}' is below {StageOptionsException.Mark("egress_subject")} '{Shown(egress)}'; the subjects below it are the "
                    + "gateways' own (.<instance>, .any; in JetStream mode the egress stream takes all of them): choose one outside it");
        }
        if (Mode == NatsDeliveryMode.JetStream && StreamName(IngressStream ?? "", placeholder) is { Length: > 0 } ingress
            && ingress == StreamName(EgressStream ?? "", placeholder))
            problems.Add($"options 'ingress_stream' and 'egress_stream' are both '{Shown(ingress)}'; each needs a stream of its own");

        string? Valid(string template) => template is null || Resolve(template, placeholder) is not { } resolved || !SubjectNames.IsSubject(resolved) ? null : resolved;
        // Checked without a stage (the bus block on its own), a name is said with {stage} in it, not as if a stage were called "stage".
        string Shown(string name) => stage is null ? name.Replace(StagePlaceholder, "{stage}", StringComparison.Ordinal) : name;
    }

    /// <summary>
    /// The stage name the options are resolved with when they are checked without one: a valid token (so the names it makes
    /// are checked as subjects and streams), and one that no text of a template holds, so that it can be said as <c>{stage}</c> again.
    /// </summary>
    private const string StagePlaceholder = "s9t4g"; // as long as "stage", which the length checks without a stage used before

    private void CheckStream(List<string> problems, string option, string template, string? stage)
    {
        var resolved = template is null ? "" : Resolve(template, stage ?? StagePlaceholder);
        if (Mode == NatsDeliveryMode.JetStream && !SubjectNames.IsToken(resolved.Replace('.', '_')))
            problems.Add($"option '{option}': '{template}' is not allowed; a stream name uses letters, digits, '-', '_', {{prefix}} and {{stage}}");
        // JetStream refuses a longer name only at start ("stream name is too long, maximum allowed is 255", error 10052).
        else if (Mode == NatsDeliveryMode.JetStream && resolved.Length > LongestStreamName)
            problems.Add($"option '{option}': '{template}' is not allowed for this {(stage is null ? "prefix" : "stage")}: it makes a stream name of {resolved.Length} "
                + $"characters ('{resolved[..20]}…'); JetStream allows at most {LongestStreamName}: use a shorter {Mark("subject_prefix")}{(stage is null ? "" : " or stage name")}");
    }

    /// <summary>The longest stream (and consumer) name nats-server takes.</summary>
    private const int LongestStreamName = 255;

    private static string Mark(string key) => StageOptionsException.Mark(key);
}
