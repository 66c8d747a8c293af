using Ferry.Nats;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// The NATS flags of <c>ferry serve</c>, kept apart from the rest of the command: <c>--nats URL</c> connects the
/// stage to NATS through a <see cref="NatsGateway"/> configured by the other flags.
/// </summary>
internal sealed class NatsServeOptions
{
    public const string Usage = """
          --nats URL                connect the stage to NATS, e.g. nats://127.0.0.1:4222 (docs/nats.md)
          --nats-mode MODE          core (at most once, default) or jetstream (at least once, backpressure)
          --subject-prefix P        first token of the NATS subjects (default ferry: ferry.<stage>.in, ...)
          --nats-max-in-flight N    jetstream: ingress publishes awaiting acknowledgement (default 256)
          --nats-ingress-layout L   packet (one NATS message per packet, default) or packet_group
        """;

    private readonly NatsGatewayOptions _options = new();
    private bool _enabled;
    private string? _firstOther;

    /// <summary>Takes <paramref name="flag"/> (and its value) when it is one of the NATS flags.</summary>
    public bool TryTake(string flag, CliArguments reader)
    {
        switch (flag)
        {
            case "--nats":
                _options.Url = reader.Value(flag);
                _enabled = true;
                return true;
            case "--nats-mode":
                var mode = reader.Value(flag);
                _options.Mode = mode switch
                {
                    "core" => NatsDeliveryMode.Core,
                    "jetstream" => NatsDeliveryMode.JetStream,
                    _ => throw new CliException($"--nats-mode '{mode}' is not allowed; use core or jetstream"),
                };
                break;
            case "--subject-prefix": _options.SubjectPrefix = reader.Value(flag); break;
            case "--nats-max-in-flight": _options.MaxInFlight = reader.Int(flag, 1, 65536); break;
            case "--nats-ingress-layout":
                var layout = reader.Value(flag);
                _options.IngressLayout = layout switch
                {
                    "packet" => NatsIngressLayout.Packet,
                    "packet_group" => NatsIngressLayout.PacketGroup,
                    _ => throw new CliException($"--nats-ingress-layout '{layout}' is not allowed; use packet or packet_group"),
                };
                break;
            default:
                return false;
        }
        _firstOther ??= flag;
        return true;
    }

    /// <summary>Checks the NATS flags against the stage's name; a mistake is a <see cref="CliException"/>.</summary>
    public void Validate(string stage)
    {
        if (!_enabled)
        {
            if (_firstOther is not null)
                throw new CliException($"{_firstOther} needs --nats URL");
            return;
        }
        try
        {
            _options.Validate(stage);
        }
        catch (NatsOptionsException ex)
        {
            throw new CliException("--nats: " + ex.Message);
        }
    }

    /// <summary>
    /// Starts the gateway (before the stage). Without <c>--nats</c> there is none; when NATS cannot be reached
    /// the reason goes to <paramref name="stderr"/> and <c>Ok</c> is false.
    /// </summary>
    public async Task<(bool Ok, NatsGateway? Gateway)> StartAsync(TcpServerStage stage, ILoggerFactory loggerFactory, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (!_enabled)
            return (true, null);
        var gateway = new NatsGateway(stage, _options, loggerFactory);
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
