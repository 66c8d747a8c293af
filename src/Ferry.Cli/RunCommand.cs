using System.CommandLine;
using Ferry.Cli.Pipeline;
using Ferry.Hosting.Settings;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry run FILE</c> and <c>ferry check FILE</c>: a gateway described in a YAML or JSON file. The file,
/// then <c>FERRY__…</c> environment variables, then <c>--set key=value</c> flags are read and validated as
/// a whole; every problem is printed (file:line:column, key, value, what is allowed) and nothing starts
/// unless there are none.
/// </summary>
internal static class RunCommand
{
    public static Command Create(CliIo io, bool checkOnly)
    {
        var file = new Argument<string>("FILE") { Description = "the pipeline file (YAML or JSON): stages, bus, routes, telemetry (see examples/)" };
        var set = new Option<string[]>("--set")
        {
            Description = "override one setting, e.g. --set stages.front.config.bind=:9000 (repeatable; after FERRY__stages__front__config__bind variables)",
            HelpName = "KEY=VALUE",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command(checkOnly ? "check" : "run", checkOnly
            ? "validate a pipeline file (with its overrides) and exit: 0 when valid, 2 with every problem listed"
            : "run the pipeline a file describes; its stages print JSON lines tagged with their names")
        {
            file, set,
        };
        if (checkOnly)
        {
            command.SetAction(result => Load(result.GetValue(file)!, result.GetValue(set) ?? [], io, "check") is { } pipeline ? Valid(pipeline, io) : 2);
            return command;
        }
        var quiet = CliOptions.Flag("--quiet", "print events and stats, not packets");
        var logLevel = CliOptions.LogLevel(LogLevel.Warning);
        var logFormat = CliOptions.LogFormat();
        command.Add(quiet);
        command.Add(logLevel);
        command.Add(logFormat);
        command.SetAction(async (result, ct) =>
        {
            if (Load(result.GetValue(file)!, result.GetValue(set) ?? [], io, "run") is not { } pipeline)
                return 2;
            using var loggerFactory = CliLogging.Create(result.ValueOr(logLevel, LogLevel.Warning), result.ValueOr(logFormat, LogFormat.Plain), io.Stderr);
            return await PipelineRunner.RunAsync(pipeline, io, result.GetValue(quiet), loggerFactory, ct).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// The file's problems, printed after the line that refused the command's flags; nothing when the file is valid (the
    /// flag line has said why nothing starts).
    /// </summary>
    internal static void CheckBesideFlagErrors(ParseResult result, CliIo io)
    {
        var command = result.CommandResult.Command;
        if (result.GetValue<string>("FILE") is not { } file)
            return;
        Load(file, result.GetValue<string[]>("--set") ?? [], io, command.Name);
    }

    /// <summary>Reads, overrides and validates; prints every problem and returns null when there is one.</summary>
    internal static PipelineDefinition? Load(string file, IEnumerable<string> sets, CliIo io, string verb)
    {
        var problems = new List<SettingProblem>();
        string? text;
        // Opening a directory fails with "Access to the path is denied", which sends the user after permissions.
        if (Directory.Exists(file))
        {
            io.Stderr.WriteLine($"ferry {verb}: cannot read '{file}': it is a directory; give the pipeline file itself (YAML or JSON), e.g. ferry {verb} {Path.Combine(file, "ferry.yaml")}");
            return null;
        }
        try
        {
            text = ConfigFileLoader.ReadText(file, problems);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            io.Stderr.WriteLine($"ferry {verb}: cannot read '{file}': {Ferry.Stages.Internal.UnreadableFile.Why(file, ex)}");
            return null;
        }
        var root = text is null ? null : ConfigFileLoader.Load(file, text, problems);
        PipelineDefinition? pipeline = null;
        if (root is not null)
        {
            ConfigOverrides.Apply(root, io.Variables, sets, problems);
            pipeline = PipelineReader.Read(file, root, problems);
        }
        if (problems.Count == 0 && pipeline is not null)
            return pipeline;
        foreach (var problem in problems.OrderBy(p => Position(file, p.Where)))
            io.Stderr.WriteLine(problem.ToString());
        io.Stderr.WriteLine($"ferry {verb}: {file}: {problems.Count} problem{(problems.Count == 1 ? "" : "s")}; nothing was started");
        return null;
    }

    /// <summary>File order (line, column); overrides from the environment and flags after the file's own lines.</summary>
    private static (int, int) Position(string file, string where)
    {
        if (!where.StartsWith(file + ":", StringComparison.Ordinal))
            return (int.MaxValue, 0);
        var parts = where[(file.Length + 1)..].Split(':');
        return parts.Length == 2 && int.TryParse(parts[0], out var line) && int.TryParse(parts[1], out var column) ? (line, column) : (int.MaxValue, 0);
    }

    private static int Valid(PipelineDefinition pipeline, CliIo io)
    {
        var stages = string.Join(", ", pipeline.Stages.Select(s => s switch
        {
            ServerStageDeclaration server => $"{s.Name} (tcp server on {server.Options.Bind})",
            ClientStageDeclaration client => $"{s.Name} (tcp client to {client.Options.Connect})",
            BridgeStageDeclaration bridge => $"{s.Name} (bridge {(bridge.IsServer ? "server" : "client")} {bridge.Address} {bridge.Port})",
            _ => s.Name,
        }));
        io.Stdout.WriteLine($"{pipeline.File}: valid: {pipeline.Stages.Count} stage{(pipeline.Stages.Count == 1 ? "" : "s")}: {stages}; "
            + $"{pipeline.Routes.Count} route{(pipeline.Routes.Count == 1 ? "" : "s")}; bus {pipeline.Bus.Type}"
            + (pipeline.Bus.Nats is { } nats ? $" ({Ferry.Nats.Internal.NatsUrlText.Redacted(nats.Url)}, {(nats.Mode == Ferry.Nats.NatsDeliveryMode.JetStream ? "jetstream" : "core")})" : ""));
        return 0;
    }
}
