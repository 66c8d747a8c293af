using System.CommandLine;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry serve</c>'s PROXY protocol flags: <c>--proxy-protocol v1|v2|any</c>, <c>--trusted-proxy</c>
/// (repeatable) and <c>--proxy-header-timeout</c>.
/// </summary>
internal sealed class ProxyFlags
{
    private readonly Option<ProxyProtocol> _mode = CliOptions.Choice("--proxy-protocol", "VERSION",
        "expect HAProxy's PROXY header (v1, v2 or any) from --trusted-proxy addresses: the real client becomes the peer, the proxy 'via' (default off)",
        ("off", ProxyProtocol.Off), ("v1", ProxyProtocol.V1), ("v2", ProxyProtocol.V2), ("any", ProxyProtocol.Any));

    private readonly Option<string[]> _trusted = new("--trusted-proxy")
    {
        Description = "an address or CIDR network whose PROXY headers are believed (repeat for more)",
        HelpName = "CIDR",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = r =>
        {
            var values = r.Tokens.Select(t => t.Value).ToArray();
            foreach (var value in values)
                if (!Ferry.Stages.Internal.NetworkText.TryParse(value, addressAlone: true, out _, out var problem))
                    r.AddError($"--trusted-proxy '{value}' {problem}");
            return values;
        },
    };

    private readonly Option<TimeSpan> _timeout = CliOptions.Duration("--proxy-header-timeout", "close a trusted proxy's connection whose PROXY header is not in by then (default 10s)");

    public void AddTo(Command command)
    {
        command.Options.Add(_mode);
        command.Options.Add(_trusted);
        command.Options.Add(_timeout);
    }

    /// <summary>The options with the flags applied.</summary>
    /// <exception cref="CliException">Flags that do not go together.</exception>
    public TcpServerStageOptions Apply(ParseResult result, TcpServerStageOptions options)
    {
        var mode = result.ValueOr(_mode, ProxyProtocol.Off);
        var trusted = result.ValueOr(_trusted, []);
        if (mode != ProxyProtocol.Off && trusted.Length == 0)
            throw new CliException($"--proxy-protocol {mode.ToString().ToLowerInvariant()} needs at least one --trusted-proxy ADDR|CIDR (a header is believed only from them)");
        if (mode == ProxyProtocol.Off && (trusted.Length > 0 || result.TryGet(_timeout, out _)))
            throw new CliException("--trusted-proxy and --proxy-header-timeout need --proxy-protocol v1|v2|any");
        options = options with { ProxyProtocol = mode, TrustedProxies = trusted };
        return result.TryGet(_timeout, out var timeout) ? options with { ProxyHeaderTimeout = timeout } : options;
    }
}
