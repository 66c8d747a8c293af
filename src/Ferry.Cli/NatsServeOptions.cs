using System.CommandLine;
using Ferry.Nats;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// The NATS flags of <c>ferry serve</c>, kept apart from the rest of the command: <c>--nats URL</c> connects the
/// stage to NATS through a <see cref="NatsGateway"/> configured by the other flags (docs/nats.md).
/// </summary>
internal sealed class NatsServeOptions
{
    private readonly Option<string> _url = new("--nats") { Description = "connect the stage to NATS, e.g. nats://127.0.0.1:4222 (docs/nats.md)", HelpName = "URL" };
    private readonly Option<NatsDeliveryMode> _mode = CliOptions.Choice("--nats-mode", "MODE", "core (at most once, default) or jetstream (at least once, backpressure)",
        ("core", NatsDeliveryMode.Core), ("jetstream", NatsDeliveryMode.JetStream));
    private readonly Option<string> _prefix = new("--subject-prefix") { Description = "first token of the NATS subjects (default ferry: ferry.<stage>.in, ...)", HelpName = "P" };
    private readonly Option<int> _maxInFlight = CliOptions.Int("--nats-max-in-flight", 1, 65536, "jetstream: ingress publishes awaiting acknowledgement (default 256)");
    private readonly Option<NatsIngressLayout> _layout = CliOptions.Choice("--nats-ingress-layout", "L", "packet (one NATS message per packet, default) or packet_group",
        ("packet", NatsIngressLayout.Packet), ("packet_group", NatsIngressLayout.PacketGroup));

    /// <summary>Adds the flags to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_url);
        command.Options.Add(_mode);
        command.Options.Add(_prefix);
        command.Options.Add(_maxInFlight);
        command.Options.Add(_layout);
    }

    /// <summary>The gateway's options from the parsed flags, checked against the stage's name; null without <c>--nats</c>.</summary>
    /// <exception cref="CliException">A NATS flag without <c>--nats</c>, or a value the gateway refuses.</exception>
    public NatsGatewayOptions? Read(ParseResult result, string stage)
    {
        var options = new NatsGatewayOptions();
        string? other = null;
        if (result.TryGet(_mode, out var mode)) { options.Mode = mode; other ??= "--nats-mode"; }
        if (result.TryGet(_prefix, out var prefix)) { options.SubjectPrefix = prefix; other ??= "--subject-prefix"; }
        if (result.TryGet(_maxInFlight, out var inFlight)) { options.MaxInFlight = inFlight; other ??= "--nats-max-in-flight"; }
        if (result.TryGet(_layout, out var layout)) { options.IngressLayout = layout; other ??= "--nats-ingress-layout"; }
        if (!result.TryGet(_url, out var url))
            return other is null ? null : throw new CliException($"{other} needs --nats URL");
        options.Url = url;
        options.SayKey = SayKey;
        try
        {
            options.Validate(stage);
        }
        catch (NatsOptionsException ex)
        {
            throw new CliException(Describe(ex.KeyedProblems, ex.MarkedProblems, options.SubjectPrefix));
        }
        return options;
    }

    /// <summary>The flag that sets each option ferry serve can set; the others keep their defaults.</summary>
    private static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        ["url"] = "--nats", ["mode"] = "--nats-mode", ["subject_prefix"] = "--subject-prefix",
        ["max_in_flight"] = "--nats-max-in-flight", ["ingress_layout"] = "--nats-ingress-layout",
    };

    /// <summary>
    /// An option as ferry serve's user knows it, for what the gateway says once it runs (a stream JetStream refuses at start): the flag
    /// that sets it; a stream by the flag its name is made from (<c>{prefix}_{stage}_in</c>, the stage being ferry serve's own).
    /// </summary>
    internal static string SayKey(string key)
        => Flags.TryGetValue(key, out var flag) ? flag
            : key is "ingress_stream" or "egress_stream" ? $"the {key[..^7]} stream, named from --subject-prefix"
            : $"the gateway's {key}, which ferry serve leaves at its default";

    /// <summary>
    /// The gateway's problems by the flags typed (<c>--nats 'http://x' is not allowed; …</c>): "option 'url'" names nothing a user of
    /// ferry serve wrote, and the property a developer reads even less. A problem of an option no flag sets (the ingress subject, made
    /// from the prefix) follows from a flag's, so it is said only when no flag's problem is (then by its key, as a NATS option).
    /// </summary>
    internal static string Describe(IReadOnlyList<string> keyedProblems, IReadOnlyList<string> markedProblems, string? subjectPrefix = null)
    {
        const string prefix = "option '";
        var byFlag = new List<string>();
        foreach (var problem in keyedProblems)
            if (problem.StartsWith(prefix, StringComparison.Ordinal) && problem.IndexOf("': ", prefix.Length, StringComparison.Ordinal) is var end and > 0
                && Flags.TryGetValue(problem[prefix.Length..end], out var flag))
                byFlag.Add($"{flag} {OptionFlagProblems.Quoted(problem[(end + 3)..])}");
        if (byFlag.Count > 0)
            return string.Join("; ", byFlag);
        // Subjects and streams too long for NATS: each made from the prefix and the stage's name, and the prefix is what a user of
        // ferry serve chose. Said once at its flag, with the longest name it makes, not once per subject the gateway has.
        var lengths = markedProblems.Select(MadeLength).ToList();
        if (subjectPrefix is not null && lengths.Count > 0 && lengths.TrueForAll(l => l is not null))
        {
            var shown = subjectPrefix.Length > 24 ? $"{subjectPrefix[..20]}…' ({subjectPrefix.Length} characters)" : $"{subjectPrefix}'";
            return $"--subject-prefix '{shown} is too long: with the stage's name it makes the gateway's subjects or streams up to "
                + $"{lengths.Max()} characters; NATS takes at most 1000 in a subject (nats-server's control line) and 255 in a stream name: "
                + "use a shorter --subject-prefix";
        }
        // A problem of an option no flag sets follows from the flags that make it (a subject too long for --subject-prefix): said
        // with the option as the gateway's and the flags it names as flags, not "option 'ingress_subject'", which serve has not.
        return string.Join("; ", markedProblems.Select(problem =>
            problem.StartsWith(prefix, StringComparison.Ordinal) && problem.IndexOf("': ", prefix.Length, StringComparison.Ordinal) is var end and > 0
                ? $"{SayKey(problem[prefix.Length..end])}: {NatsOptionsException.SayKeys(problem[(end + 3)..], SayKey)}"
                : NatsOptionsException.SayKeys(problem, SayKey)));
    }

    /// <summary>The length of the name a too-long problem says the option makes ("it makes a subject of 1009 characters"); null for another problem.</summary>
    private static int? MadeLength(string problem)
    {
        foreach (var made in (string[])["it makes a subject of ", "it makes a stream name of "])
        {
            var at = problem.IndexOf(made, StringComparison.Ordinal);
            if (at >= 0 && problem.AsSpan(at + made.Length).IndexOf(' ') is var end and > 0
                && int.TryParse(problem.AsSpan(at + made.Length, end), System.Globalization.CultureInfo.InvariantCulture, out var length))
                return length;
        }
        return null;
    }

    /// <summary>
    /// Starts the gateway (before the stage). Without options there is none; when NATS cannot be reached
    /// the reason goes to <paramref name="stderr"/> and <c>Ok</c> is false.
    /// </summary>
    public static async Task<(bool Ok, NatsGateway? Gateway)> StartAsync(NatsGatewayOptions? options, TcpServerStage stage, ILoggerFactory loggerFactory,
        TextWriter stderr, CancellationToken cancellationToken)
    {
        if (options is null)
            return (true, null);
        var gateway = new NatsGateway(stage, options, loggerFactory);
        try
        {
            await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
            return (true, gateway);
        }
        catch (InvalidOperationException ex)
        {
            stderr.WriteLine("ferry serve: " + ex.Message);
            await gateway.DisposeAsync().ConfigureAwait(false);
            return (false, null);
        }
    }
}
