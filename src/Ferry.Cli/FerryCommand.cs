using System.CommandLine;
using System.CommandLine.Help;

namespace Ferry.Cli;

/// <summary>
/// The <c>ferry</c> command on System.CommandLine: <c>serve</c>, <c>connect</c>, <c>bridge</c>, <c>run</c>,
/// <c>check</c>, each with <c>--help</c>, suggestions for mistyped names and shell completion
/// (<c>dotnet-suggest</c>). A mistake prints one line on stderr and exits 2.
/// </summary>
internal static class FerryCommand
{
    /// <summary>Runs the command line <paramref name="args"/> with the given streams; returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
        => RunAsync(args, new CliIo(stdin, stdout, stderr), cancellationToken);

    /// <summary>Runs the command line with <paramref name="environment"/> in place of the process's environment (for <c>FERRY__…</c> overrides).</summary>
    public static Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, IReadOnlyDictionary<string, string> environment,
        CancellationToken cancellationToken)
        => RunAsync(args, new CliIo(stdin, stdout, stderr, environment), cancellationToken);

    private static async Task<int> RunAsync(string[] args, CliIo io, CancellationToken cancellationToken)
    {
        var (stdout, stderr) = (io.Stdout, io.Stderr);
        var root = Create(io);
        if (args.Length == 0)
        {
            stderr.WriteLine("ferry: needs a command: serve, connect, bridge, run, check or cert (see ferry --help)");
            return 2;
        }
        var result = root.Parse(args);
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        if (result.Action is HelpAction || result.Errors.Count == 0)
        {
            try
            {
                var code = await result.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
                stdout.Flush();
                return code;
            }
            catch (CliException ex)
            {
                stderr.WriteLine($"ferry {result.CommandResult.Command.Name}: {ex.Message}");
                return 2;
            }
        }
        stderr.WriteLine(CliErrors.Describe(result));
        return 2;
    }

    private static RootCommand Create(CliIo io) => new("Ferry: a TCP server stage, gateway and stream bridge. Events are JSON lines on stdout, logs go to stderr.")
    {
        ServeCommand.Create(io),
        ConnectCommand.Create(io),
        BridgeCommand.Create(io),
        RunCommand.Create(io, checkOnly: false),
        RunCommand.Create(io, checkOnly: true),
        CertCommand.Create(io),
    };
}
