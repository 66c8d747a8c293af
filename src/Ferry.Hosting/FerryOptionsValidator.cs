using Ferry.Hosting.Settings;
using Ferry.Nats;
using Microsoft.Extensions.Options;

namespace Ferry.Hosting;

/// <summary>
/// Fails <see cref="FerryOptions"/> with every problem: reading errors, invalid stage options and TLS material (each stage is built
/// without binding), NATS options set in code, duplicate stage names, two stages given one listening address, names NATS cannot use, set-up code for a
/// stage that is not declared.
/// </summary>
internal sealed class FerryOptionsValidator : IValidateOptions<FerryOptions>
{
    public ValidateOptionsResult Validate(string? name, FerryOptions options)
    {
        var failures = options.Problems.Select(p => p.ToString()).ToList();
        // Options a Bus section gave were checked as they were read (and are null when they had problems); options set in code were
        // checked only when the first gateway was built, at the start, past this validation: an exception of their own, not the list.
        try
        {
            options.Nats?.Validate();
        }
        catch (NatsOptionsException ex)
        {
            failures.AddRange(ex.Problems);
        }
        // Ignoring case, as the bus's name claim does: Stages:pos and Stages:Pos are one key to a configuration.
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var spelled = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var binds = new BindClaims();
        foreach (var stage in options.Stages)
        {
            if (!seen.TryAdd(stage.Name, stage.Where))
                failures.Add(spelled[stage.Name] == stage.Name
                    ? $"{stage.Where}: stage name '{stage.Name}' is already used by {seen[stage.Name]}; stage names must be unique per bus (their topics would merge)"
                    : $"{stage.Where}: stage name '{stage.Name}' is already used by {seen[stage.Name]} as '{spelled[stage.Name]}'; stage names must be unique "
                      + "per bus, ignoring case (a configuration's keys ignore it, so the two could not be told apart)");
            // As ferry check does, at the key that gave the address: otherwise the second stage fails to bind at the host's start,
            // after the first has started.
            else if (binds.Claim(stage, stage.AddressWhere ?? stage.Where) is { } clash)
                failures.Add($"{stage.AddressWhere ?? stage.Where}: stage '{stage.Name}' {clash}");
            spelled.TryAdd(stage.Name, stage.Name);
            // Built, not only validated: a TLS file declared in code is read here, before any stage starts.
            failures.AddRange(StageBuildCheck.Problems(stage));
        }
        if (options.Nats is { } bus)
        {
            // Each server stage's name, and every pair of them: two stages must not meet on a NATS subject.
            var named = new List<SettingProblem>();
            NatsBusReader.CheckStages(bus, options.Stages.OfType<ServerStageDeclaration>().Select(s => ((StageDeclaration)s, (ISettingNode?)null)).ToList(), named);
            failures.AddRange(named.Select(p => p.ToString()));
        }
        // A section given to AddFerry that declares nothing, with nothing added in code: the host would run no stage (and report
        // unhealthy for ever); most likely Stages is missing or misspelled.
        if (options.Stages.Count == 0 && options.Sections.Count > 0 && options.Problems.Count == 0)
            failures.AddRange(options.Sections.Select(path => path.Length == 0
                ? "configuration: declares no stage (no Stages entries) and none is added in code (AddTcpServerStage, AddTcpClientStage): the host would run nothing"
                : $"configuration '{path}': declares no stage (no {path}:Stages entries) and none is added in code (AddTcpServerStage, AddTcpClientStage): the host would run nothing"));
        foreach (var setup in options.Setups)
            if (!Unread(setup.Name, options) && SetupProblem(setup, options.Stages) is { } problem)
                failures.Add(problem);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>
    /// Whether stage <paramref name="name"/> may be declared and went unread: no stage was read from a section that had problems
    /// (no such section, the whole configuration given), or a problem is in the stage's own block. Its set-up code's "no stage
    /// named" would then be a second line for one mistake, already told.
    /// </summary>
    private static bool Unread(string name, FerryOptions options)
    {
        if (options.Problems.Count == 0)
            return false;
        if (options.Stages.Count == 0)
            return true;
        foreach (var problem in options.Problems)
        {
            var segments = problem.Key.Split('.');
            for (var i = 0; i + 1 < segments.Length; i++)
                if (segments[i].Equals("Stages", StringComparison.OrdinalIgnoreCase) && segments[i + 1].Equals(name, StringComparison.OrdinalIgnoreCase))
                    return true;
        }
        return false;
    }

    /// <summary>Set-up code must name a declared stage of its kind; otherwise it would silently never run.</summary>
    private static string? SetupProblem(StageSetup setup, IReadOnlyList<StageDeclaration> stages)
    {
        var server = setup.Server is not null;
        var (method, other) = server ? ("ConfigureTcpServerStage", "ConfigureTcpClientStage") : ("ConfigureTcpClientStage", "ConfigureTcpServerStage");
        switch (stages.FirstOrDefault(s => s.Name == setup.Name))
        {
            case null:
                var names = stages.Where(s => server ? s is ServerStageDeclaration : s is ClientStageDeclaration).Select(s => s.Name).ToList();
                return $"{setup.Where}: no {setup.Kind} stage named '{setup.Name}' is declared{Suggest.DidYouMean(setup.Name, names)} "
                    + $"({setup.Kind} stages: {string.Join(", ", names)}); declare it in configuration or with AddTcp{(server ? "Server" : "Client")}Stage";
            case BridgeStageDeclaration bridge:
                return $"{setup.Where}: stage '{setup.Name}' ({bridge.Where}) is a bridge end; {method} sets up tcp_{setup.Kind} stages only";
            case var declared when declared is ServerStageDeclaration != server:
                return $"{setup.Where}: stage '{setup.Name}' ({declared.Where}) is a tcp_{(server ? "client" : "server")} stage, not a tcp_{setup.Kind} stage; use {other}";
            default:
                return null;
        }
    }
}
