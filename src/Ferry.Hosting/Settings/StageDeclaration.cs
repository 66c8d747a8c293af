using Ferry.Stages;

namespace Ferry.Hosting.Settings;

/// <summary>A named stage read from settings and validated, ready to be created on a bus.</summary>
/// <param name="Name">The stage's name, unique per bus.</param>
/// <param name="Where">Where it was declared, for messages.</param>
internal abstract record StageDeclaration(string Name, string Where)
{
    /// <summary>
    /// Where the stage's listening address was written (its <c>bind</c>, <c>host</c>/<c>port</c>, a bridge's <c>port</c>), for a clash
    /// with another stage's address: the key to change, as <c>ferry check</c> names it; null when declared in code.
    /// </summary>
    public string? AddressWhere { get; init; }

    /// <summary>How the keys that declared the stage are spelled, for what only building the stage finds; null when declared in code.</summary>
    public KeySpelling? Spelling { get; init; }
}

/// <summary>A TCP server stage.</summary>
internal sealed record ServerStageDeclaration(string Name, string Where, TcpServerStageOptions Options) : StageDeclaration(Name, Where);

/// <summary>A TCP client stage.</summary>
internal sealed record ClientStageDeclaration(string Name, string Where, TcpClientStageOptions Options) : StageDeclaration(Name, Where);

/// <summary>
/// One end of a Rogue-compatible frame bridge (ports <see cref="Port"/> and <see cref="Port"/>+1); <see cref="StopGracePeriod"/> is how
/// long its stop lets queued frames drain (its <c>stop_grace_period</c>, or the default the reader was given).
/// </summary>
internal sealed record BridgeStageDeclaration(string Name, string Where, bool IsServer, string Address, int Port, TimeSpan HandshakeTimeout, int MaxPayloadBytes,
    TimeSpan StopGracePeriod)
    : StageDeclaration(Name, Where)
{
    /// <summary>Its <c>frame_timeout</c>: zero (the default, as libzmq and Rogue) for no limit.</summary>
    public TimeSpan FrameTimeout { get; init; }
}
