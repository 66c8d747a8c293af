using Microsoft.Extensions.Logging;

namespace Ferry.Bridge.Internal;

/// <summary>The bridge's own log lines; its stages add theirs (listening, connections, bind and frame errors) under the same category.</summary>
internal static partial class BridgeLog
{
    [LoggerMessage(2002, LogLevel.Information, "{Role} connection to {Peer} established")]
    public static partial void Established(ILogger logger, string role, string peer);

    [LoggerMessage(2003, LogLevel.Information, "{Role} connection to {Peer} closed: {Reason}")]
    public static partial void Closed(ILogger logger, string role, string peer, string reason);

    [LoggerMessage(2005, LogLevel.Warning, "{Role}: dropped a message that is not a Rogue frame: {Reason}")]
    public static partial void MessageDropped(ILogger logger, string role, string reason);

    [LoggerMessage(2006, LogLevel.Debug, "{Role}: {Kind}: {Message}")]
    public static partial void StageProblem(ILogger logger, string role, string kind, string message);

    [LoggerMessage(2010, LogLevel.Information, "Bridge ready: both directions connected")]
    public static partial void Ready(ILogger logger);

    [LoggerMessage(2011, LogLevel.Information, "Bridge not ready: a direction lost its peer")]
    public static partial void NotReady(ILogger logger);
}
