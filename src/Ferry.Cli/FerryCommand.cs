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
    /// <summary>Runs the command line <paramref name="args"/> with the given streams (<paramref name="stdin"/> null: the
    /// process's, made on first read); returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, TextReader? stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
        => RunAsync(args, new CliIo(stdin, stdout, stderr), cancellationToken);

    /// <summary>Runs the command line as the process (<c>Program</c>): <paramref name="stdout"/> writes to the process's own stdout.</summary>
    public static Task<int> RunProcessAsync(string[] args, TextWriter stdout, TextWriter stderr)
        => RunAsync(args, new CliIo(null, stdout, stderr) { StdoutIsProcess = true }, CancellationToken.None);

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
        if (result.Action is HelpAction)
            return WriteHelp(result, stdout, stderr);
        if (AsksForJsonLogs(result))
        {
            // Every line on stderr is JSON then, the command's own too (errors, problems, a stop's account), not only log entries.
            stderr = new JsonStderrWriter(stderr);
            io = io with { Stderr = stderr };
            root = Create(io);
            result = root.Parse(args);
        }
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        if (result.Errors.Count == 0)
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
        // A bad flag beside a pipeline file (`ferry run f.yaml --log-level verbose`) would hide the file's problems until the
        // flag was fixed: the file is read and checked too, so that one try lists every mistake. Nothing starts either way.
        if (result.CommandResult.Command.Name is "run" or "check" && CliErrors.ArgumentsStand(result))
            RunCommand.CheckBesideFlagErrors(result, io);
        return 2;
    }

    /// <summary>
    /// Whether the command line gives <c>--log-format json</c>: read from the token as written, so that a line refusing another
    /// of its arguments is JSON too.
    /// </summary>
    private static bool AsksForJsonLogs(ParseResult result)
        => result.CommandResult.Command.Options.FirstOrDefault(o => o.Name == "--log-format") is { } option
            && result.GetResult(option) is { Tokens: [.., var last] } && string.Equals(last.Value, "json", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// <c>--help</c> as System.CommandLine writes it, with the command called <c>ferry</c>. System.CommandLine names the
    /// root command after the running file (<see cref="RootCommand.ExecutableName"/>: <c>Ferry.Cli</c> for <c>dotnet run</c>
    /// and the published binary alike), while the command a user types, installs and reads about is <c>ferry</c>; the
    /// name cannot be set, so the first mention in the usage line is replaced.
    /// </summary>
    private static int WriteHelp(ParseResult result, TextWriter stdout, TextWriter stderr)
    {
        using var text = new StringWriter();
        var code = result.Invoke(new InvocationConfiguration { Output = text, Error = stderr, EnableDefaultExceptionHandler = false });
        stdout.Write(NameInUsage(text.ToString(), RootCommand.ExecutableName));
        stdout.Flush();
        return code;
    }

    /// <summary><paramref name="help"/> with the first <paramref name="executable"/> after its <c>Usage:</c> heading replaced by <c>ferry</c>.</summary>
    internal static string NameInUsage(string help, string executable)
    {
        var usage = help.IndexOf("Usage:", StringComparison.Ordinal);
        var at = usage < 0 || executable.Length == 0 ? -1 : help.IndexOf(executable, usage, StringComparison.Ordinal);
        return at < 0 ? help : string.Concat(help.AsSpan(0, at), "ferry", help.AsSpan(at + executable.Length));
    }

    private static RootCommand Create(CliIo io)
    {
        var root = new RootCommand("Ferry: a TCP server stage, gateway and stream bridge. Events are JSON lines on stdout, logs go to stderr.")
        {
            ServeCommand.Create(io),
            ConnectCommand.Create(io),
            BridgeCommand.Create(io),
            RunCommand.Create(io, checkOnly: false),
            RunCommand.Create(io, checkOnly: true),
            CertCommand.Create(io),
        };
        return root;
    }
}
