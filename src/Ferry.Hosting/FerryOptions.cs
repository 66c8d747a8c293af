using Ferry.Hosting.Settings;

namespace Ferry.Hosting;

/// <summary>
/// The stages a host runs, gathered from configuration (<c>AddFerry(section)</c>) and code
/// (<c>AddTcpServerStage</c>, <c>AddTcpClientStage</c>), with the problems found while reading them.
/// Validated when the host starts (<c>ValidateOnStart</c>): any problem stops the host before a stage starts.
/// </summary>
public sealed class FerryOptions
{
    private readonly List<StageDeclaration> _stages = [];
    private readonly List<SettingProblem> _problems = [];

    /// <summary>The declared stages, in declaration order.</summary>
    internal IReadOnlyList<StageDeclaration> Stages => _stages;

    /// <summary>Problems found while reading configuration (invalid values, unknown keys, bad framing specs).</summary>
    internal IReadOnlyList<SettingProblem> Problems => _problems;

    /// <summary>
    /// Set by a <c>Bus</c> section with <c>Type: nats</c>: every server stage is connected to NATS subjects
    /// through a <see cref="Ferry.Nats.NatsGateway"/> with these options (and the health check follows the broker).
    /// </summary>
    public Ferry.Nats.NatsGatewayOptions? Nats { get; set; }

    /// <summary>Adds a stage; duplicate names are reported by validation, never merged.</summary>
    internal void Add(StageDeclaration stage) => _stages.Add(stage);

    /// <summary>Records a problem for validation to report.</summary>
    internal void AddProblem(SettingProblem problem) => _problems.Add(problem);

    /// <summary>Set-up code for stages by name, run between building and starting them, in registration order.</summary>
    internal List<StageSetup> Setups { get; } = [];

    /// <summary>The paths of the configuration sections read (<c>AddFerry(section)</c>), "" for a whole configuration: with no stage declared, validation says which section declared none.</summary>
    internal List<string> Sections { get; } = [];
}
