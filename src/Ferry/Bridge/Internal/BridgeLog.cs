using Microsoft.Extensions.Logging;

namespace Ferry.Bridge.Internal;

/// <summary>The bridge's own log lines; its stages add theirs (listening, connections, bind and frame errors) under the same category.</summary>
internal static partial class BridgeLog
{
    [LoggerMessage(2002, LogLevel.Information, "{Role} connection to {Peer} established")]
    public static partial void Established(ILogger logger, string role, string peer);

    [LoggerMessage(2003, LogLevel.Information, "{Role} connection to {Peer} closed: {Reason}")]
    public static partial void Closed(ILogger logger, string role, string peer, string reason);

    // Debug: the stage logs the same drop as a frame error warning, rate-limited (a peer sending garbage must not
    // fill the log); this line per message is for tracing only.
    [LoggerMessage(2005, LogLevel.Debug, "{Role}: dropped a message that is not a Rogue frame: {Reason}")]
    public static partial void MessageDropped(ILogger logger, string role, string reason);

    [LoggerMessage(2004, LogLevel.Warning, "{Role}: cannot connect to {Remote}: {Reason}; retrying (next in {RetryMs} ms) until the server answers; not logged again until connected")]
    public static partial void CannotConnect(ILogger logger, string role, string remote, string reason, long retryMs);

    [LoggerMessage(2006, LogLevel.Debug, "{Role}: {Kind}: {Message}")]
    public static partial void StageProblem(ILogger logger, string role, string kind, string message);

    [LoggerMessage(2010, LogLevel.Information, "Bridge ready: both directions connected")]
    public static partial void Ready(ILogger logger);

    [LoggerMessage(2011, LogLevel.Information, "Bridge not ready: a direction lost its peer")]
    public static partial void NotReady(ILogger logger);
}
