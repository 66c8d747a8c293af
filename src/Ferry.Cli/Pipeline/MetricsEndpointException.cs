namespace Ferry.Cli.Pipeline;

/// <summary>The metrics scrape endpoint could not listen; the message names the flag or key, the address and the reason.</summary>
internal sealed class MetricsEndpointException(string message) : Exception(message);
