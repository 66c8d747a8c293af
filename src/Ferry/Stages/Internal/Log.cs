using System.Net;
using Ferry.Connections;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>The stages' log messages (source-generated: no formatting cost when the level is off).</summary>
/// <remarks>Event ids 1001–1099 are the stages'; the bridge's are 2001–2099, so a log filter on an id means one message.</remarks>
internal static partial class Log
{
    /// <summary>
    /// The id of a server stage's entry for the bind it gave up on (<see cref="BindGaveUp"/>), apart from every other error
    /// (1006) so that a filter can tell it by its id, not by its wording: <c>ferry run</c> says that failure itself.
    /// </summary>
    public const int BindGaveUpId = 1012;

    /// <summary>A client stage giving up connecting (reconnect_attempts used up), worded as a 1006 <c>Setup error</c>.</summary>
    public const int ConnectGaveUpId = 1015;

    [LoggerMessage(1001, LogLevel.Information, "{Stage}: listening on {Local}")]
    public static partial void Listening(ILogger logger, string stage, IPEndPoint local);

    [LoggerMessage(1002, LogLevel.Debug, "{Stage}: connection {Id} from {Peer}")]
    public static partial void Connected(ILogger logger, string stage, ConnectionId id, IPEndPoint peer);

    [LoggerMessage(1003, LogLevel.Debug, "{Stage}: connection {Id} from {Peer} closed: {Reason} {Detail}")]
    public static partial void Disconnected(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string reason, string? detail);

    [LoggerMessage(1004, LogLevel.Warning, "{Stage}: connection {Id} from {Peer} refused: {Detail}")]
    public static partial void Rejected(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string detail);

    [LoggerMessage(1005, LogLevel.Warning, "{Stage}: frame error on connection {Id} from {Peer}: {Error}")]
    public static partial void FrameError(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string error);

    [LoggerMessage(1006, LogLevel.Error, "{Stage}: {Kind} error: {Message}")]
    public static partial void StageError(ILogger logger, string stage, StageErrorKind kind, string message);

    [LoggerMessage(1007, LogLevel.Error, "{Stage}: a {EventType} handler threw")]
    public static partial void HandlerFailed(ILogger logger, string stage, string eventType, Exception exception);

    [LoggerMessage(1013, LogLevel.Error, "{Stage}: an async void event handler threw after it had returned to the stage (the stage goes on)")]
    public static partial void AsyncHandlerFailed(ILogger logger, string stage, Exception exception);

    [LoggerMessage(1014, LogLevel.Warning, "{Stage}: a {EventType} handler held the thread for {Milliseconds} ms; handlers run on the stage's service thread, "
        + "which serves no connection meanwhile: hand slow work (I/O, waits) to a task of its own")]
    public static partial void HandlerSlow(ILogger logger, string stage, string eventType, long milliseconds);

    [LoggerMessage(1008, LogLevel.Critical, "{Stage}: the service loop failed")]
    public static partial void LoopFailed(ILogger logger, string stage, Exception exception);

    [LoggerMessage(1009, LogLevel.Debug, "{Stage}: egress for unknown connection {Id} dropped")]
    public static partial void UnknownTarget(ILogger logger, string stage, ConnectionId id);

    [LoggerMessage(1010, LogLevel.Warning, "{Stage}: {Count} more {Kind} warnings in the last {WindowMs} ms were not logged")]
    public static partial void Suppressed(ILogger logger, string stage, long count, WarningKind kind, long windowMs);
    [LoggerMessage(1011, LogLevel.Warning, "{Stage}: tls.accept_invalid_certificates is on: any server certificate is accepted; for development only")]
    public static partial void InsecureTls(ILogger logger, string stage);

    /// <summary>A server stage's accept_invalid_certificates, said at its start as a client stage's is (<see cref="InsecureTls"/>).</summary>
    [LoggerMessage(1039, LogLevel.Warning, "{Stage}: tls.accept_invalid_certificates is on: any client certificate is accepted (a required one must still be sent, "
        + "one the CRL lists is still refused); for development only")]
    public static partial void InsecureServerTls(ILogger logger, string stage);

    /// <summary>A client certificate refused by a server stage's mutual TLS check (rate-limited; 1003 at debug says the close too).</summary>
    [LoggerMessage(1036, LogLevel.Warning, "{Stage}: connection {Id} from {Peer}: client certificate refused: {Reason}; subject {Subject}, SHA-1 {Thumbprint}")]
    public static partial void ClientCertificateRefused(ILogger logger, string stage, ConnectionId id, IPEndPoint peer, string reason, string subject, string thumbprint);

    /// <summary>Worded as a 1006 error of kind Bind, as it was before it had an id of its own.</summary>
    [LoggerMessage(BindGaveUpId, LogLevel.Error, "{Stage}: {Kind} error: {Message}")]
    public static partial void BindGaveUp(ILogger logger, string stage, StageErrorKind kind, string message);

    /// <summary>Worded as a 1006 error of kind Setup, as it was before it had an id of its own.</summary>
    [LoggerMessage(ConnectGaveUpId, LogLevel.Error, "{Stage}: {Kind} error: {Message}")]
    public static partial void ConnectGaveUp(ILogger logger, string stage, StageErrorKind kind, string message);
}
