namespace Ferry.Cli;

/// <summary>The <c>ferry</c> command: dispatches to its sub-commands.</summary>
public static class FerryCommand
{
    public const string Usage = """
        usage: ferry <command> [options]
          serve     run a TCP server stage and print what arrives as JSON lines
          connect   dial a TCP server, send stdin lines, print what arrives (reconnects)
          bridge    a Rogue-compatible frame bridge end: bridge server|client ADDR PORT [--echo]
          cert      make PEM certificates for TLS: cert ca|server|client|self-signed --out PATH
        'ferry <command> --help' describes a command.
        """;

    public static Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? stderr : stdout).WriteLine(Usage);
            return Task.FromResult(args.Length == 0 ? 2 : 0);
        }
        return args[0] switch
        {
            "serve" => ServeCommand.RunAsync(args[1..], stdin, stdout, stderr, cancellationToken),
            "connect" => ConnectCommand.RunAsync(args[1..], stdin, stdout, stderr, cancellationToken),
            "bridge" => BridgeCommand.RunAsync(args[1..], stdout, stderr, cancellationToken),
            "cert" => CertCommand.RunAsync(args[1..], stdout, stderr),
            _ => Unknown(args[0], stderr),
        };
    }

    private static Task<int> Unknown(string command, TextWriter stderr)
    {
        stderr.WriteLine($"ferry: unknown command '{command}' (commands: serve, connect, bridge, cert; see ferry --help)");
        return Task.FromResult(2);
    }
}
