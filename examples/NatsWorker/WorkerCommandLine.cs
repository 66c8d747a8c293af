using Ferry.Examples;
using Ferry.Nats;

namespace NatsWorker;

/// <summary>The worker's settings.</summary>
/// <param name="Nats">The NATS server's URL.</param>
/// <param name="Stage">The gateways' stage name (a subject token).</param>
/// <param name="SubjectPrefix">The gateways' subject prefix.</param>
/// <param name="Forbidden">The word that gets a connection closed.</param>
/// <param name="Mode"><c>core</c> or <c>jetstream</c>.</param>
public sealed record WorkerSettings(string Nats, string Stage, string SubjectPrefix, string Forbidden, string Mode);

/// <summary>nats-worker's command line.</summary>
public static class WorkerCommandLine
{
    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: nats-worker [--nats URL] [--stage NAME] [--subject-prefix P] [--forbidden WORD] [--mode core|jetstream]
          --nats URL            the NATS server: nats://host:port (or tls://, ws://, wss://) (default nats://127.0.0.1:4222)
          --stage NAME          the gateways' stage: letters, digits, '-' and '_' (default tcp_server, ferry serve's)
          --subject-prefix P    the gateways' subject prefix: tokens separated by '.' (default ferry)
          --forbidden WORD      a connection that sends it is closed (default forbidden)
          --mode core|jetstream core: a queue subscription; jetstream: the durable consumer 'workers' (default core)
        """;

    /// <summary>The settings <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static WorkerSettings Parse(string[] args)
    {
        var line = new CommandLine(args, "--nats", "--stage", "--subject-prefix", "--forbidden", "--mode");
        line.Arguments();   // none: a stray word is an error, not ignored
        var settings = new WorkerSettings(
            line.Text("--nats", "nats://127.0.0.1:4222"),
            line.Text("--stage", "tcp_server"),
            line.Text("--subject-prefix", "ferry"),
            line.Text("--forbidden", "forbidden"),
            line.OneOf("--mode", "core", "core", "jetstream"));
        // The gateway's own checks, one setting at a time, so that the worker accepts what `ferry serve --nats` accepts.
        Check("--nats", () => new NatsGatewayOptions { Url = settings.Nats }.Validate());
        Check("--subject-prefix", () => new NatsGatewayOptions { SubjectPrefix = settings.SubjectPrefix }.Validate());
        Check("--stage", () => new NatsGatewayOptions().Validate(settings.Stage));
        return settings;
    }

    private static void Check(string option, Action validate)
    {
        try
        {
            validate();
        }
        catch (NatsOptionsException e)
        {
            throw CommandLine.Invalid(option, e.Problems[0]);
        }
    }
}
