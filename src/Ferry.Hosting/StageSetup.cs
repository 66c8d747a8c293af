using Ferry.Stages;

namespace Ferry.Hosting;

/// <summary>
/// Code that sets one hosted stage up after the host builds it and before it starts (<c>ConfigureTcpServerStage</c>,
/// <c>ConfigureTcpClientStage</c>): the only moment <c>MapConnections</c> may be called and the stage's .NET events see
/// its first connection. Exactly one of <see cref="Server"/> and <see cref="Client"/> is set.
/// </summary>
internal sealed record StageSetup(string Name, string Where, Action<TcpServerStage, IServiceProvider>? Server, Action<TcpClientStage, IServiceProvider>? Client)
{
    public string Kind => Server is not null ? "server" : "client";
}
