using System.Net;
using Ferry.Connections;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>The stages' log messages (source-generated: no formatting cost when the level is off).</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "{Stage}: listening on {Local}")]
    public static partial void Listening(ILogger logger, string stage, IPEndPoint local);

    [LoggerMessage(2, LogLevel.Debug, "{Stage}: connection {Id} from {Peer}")]
    public static partial void Connected(ILogger logger, string stage, ConnectionId id, IPEndPoint peer);

    [LoggerMessage(3, LogLevel.Debug, "{Stage}: connection {Id} from {Peer} closed: {Reason} {Detail}")]
    public static partial void Disconnected(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string reason, string? detail);

    [LoggerMessage(4, LogLevel.Warning, "{Stage}: connection {Id} from {Peer} refused: {Detail}")]
    public static partial void Rejected(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string detail);

    [LoggerMessage(5, LogLevel.Warning, "{Stage}: frame error on connection {Id} from {Peer}: {Error}")]
    public static partial void FrameError(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string error);

    [LoggerMessage(6, LogLevel.Error, "{Stage}: {Kind} error: {Message}")]
    public static partial void StageError(ILogger logger, string stage, StageErrorKind kind, string message);

    [LoggerMessage(7, LogLevel.Error, "{Stage}: a {EventType} handler threw")]
    public static partial void HandlerFailed(ILogger logger, string stage, string eventType, Exception exception);

    [LoggerMessage(8, LogLevel.Critical, "{Stage}: the service loop failed")]
    public static partial void LoopFailed(ILogger logger, string stage, Exception exception);

    [LoggerMessage(9, LogLevel.Debug, "{Stage}: egress for unknown connection {Id} dropped")]
    public static partial void UnknownTarget(ILogger logger, string stage, ConnectionId id);
}
