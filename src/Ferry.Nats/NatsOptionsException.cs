namespace Ferry.Nats;

/// <summary>A <see cref="NatsGatewayOptions"/> is invalid. The message lists every bad option, its value and what is allowed.</summary>
public sealed class NatsOptionsException(IReadOnlyList<string> problems) : ArgumentException(string.Join("; ", problems))
{
    /// <summary>One line per invalid option.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
