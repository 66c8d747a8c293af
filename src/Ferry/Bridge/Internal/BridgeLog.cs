using System.Net;
using Microsoft.Extensions.Logging;

namespace Ferry.Bridge.Internal;

internal static partial class BridgeLog
{
    [LoggerMessage(1, LogLevel.Debug, "Listening for {Role} peers on {EndPoint}")]
    public static partial void Listening(ILogger logger, string role, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Information, "{Role} connection to {Peer} established (ZMTP {Major}.{Minor})")]
    public static partial void Established(ILogger logger, string role, string peer, byte major, byte minor);

    [LoggerMessage(3, LogLevel.Information, "{Role} connection to {Peer} closed: {Reason}")]
    public static partial void Closed(ILogger logger, string role, string peer, string reason);

    [LoggerMessage(4, LogLevel.Warning, "{Role} connection to {Peer} failed: {Reason}")]
    public static partial void Failed(ILogger logger, string role, string peer, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Dropped a message from {Peer}: {Reason}")]
    public static partial void MessageDropped(ILogger logger, string peer, string reason);

    [LoggerMessage(6, LogLevel.Debug, "Connecting {Role} to {Host}:{Port} failed ({Reason}); retrying in {Delay}")]
    public static partial void ConnectFailed(ILogger logger, string role, string host, int port, string reason, TimeSpan delay);

    [LoggerMessage(7, LogLevel.Warning, "Refused a {Role} connection from {Peer}: {Limit} peers already connected")]
    public static partial void PeerRefused(ILogger logger, string role, string peer, int limit);

    [LoggerMessage(8, LogLevel.Debug, "Ignored ZMTP command {Command} from {Peer}")]
    public static partial void CommandIgnored(ILogger logger, string command, string peer);

    [LoggerMessage(9, LogLevel.Warning, "Accept on {Role} port failed: {Reason}")]
    public static partial void AcceptFailed(ILogger logger, string role, string reason);

    [LoggerMessage(10, LogLevel.Information, "Bridge ready: both directions connected")]
    public static partial void Ready(ILogger logger);

    [LoggerMessage(11, LogLevel.Information, "Bridge not ready: a direction lost its peer")]
    public static partial void NotReady(ILogger logger);
}
