namespace Ferry.Connections;

/// <summary>Why a connection ended.</summary>
public enum DisconnectReason
{
    /// <summary>The peer closed its side (FIN).</summary>
    RemoteClosed,
    /// <summary>The peer reset the connection (RST) or the socket failed.</summary>
    Reset,
    /// <summary>Nothing arrived within <c>idle_timeout</c>.</summary>
    IdleTimeout,
    /// <summary>Accepted over <c>max_connections</c> and closed at once.</summary>
    Limit,
    /// <summary>The server stage is stopping.</summary>
    ServerStopping,
    /// <summary>The peer sent bytes the stage's framing cannot decode.</summary>
    ProtocolError,
    /// <summary>Closed by a command (the kill switch) or the API.</summary>
    Killed,
    /// <summary>The peer read too slowly and the <c>disconnect</c> overflow policy applied.</summary>
    SlowConsumer,
    /// <summary>A frame that had started did not complete within <c>frame_timeout</c> (a slow or stalled sender).</summary>
    FrameTimeout,
    /// <summary>Holding the connection's partial frame would have taken the stage over <c>max_pending_bytes</c>.</summary>
    MemoryLimit,
    /// <summary>The TLS handshake did not finish within <c>tls.handshake_timeout</c>.</summary>
    TlsHandshakeTimeout,
    /// <summary>The TLS handshake failed; the detail says why (<c>no client certificate</c>, <c>untrusted</c>, <c>expired</c>, <c>not yet valid</c>, …).</summary>
    TlsError,
    /// <summary>Refused at accept: over <c>max_connections_per_ip</c> or <c>connection_rate_per_ip</c>.</summary>
    IpLimit,
    /// <summary>Refused at accept: outside <c>allow_from</c>, inside <c>deny_from</c>, or by the accept filter.</summary>
    Denied,
    /// <summary>The connection's handler (<c>MapConnections</c>) returned or failed; the detail says how it failed.</summary>
    HandlerEnded,
    /// <summary>The PROXY protocol was not followed: a trusted proxy sent no header, a malformed one or one of a version not accepted, or another address sent one; the detail says which.</summary>
    ProxyProtocol,
    /// <summary>A trusted proxy's PROXY header did not arrive whole within <c>proxy_header_timeout</c>.</summary>
    ProxyHeaderTimeout,
    /// <summary>
    /// The client stage is stopping (its own stop, not the server's: a server that goes away is
    /// <see cref="RemoteClosed"/> or <see cref="Reset"/>).
    /// </summary>
    ClientStopping,
}

/// <summary>The snake_case names used on the bus, in JSON and in logs.</summary>
internal static class DisconnectReasonNames
{
    public static string ToName(this DisconnectReason reason) => reason switch
    {
        DisconnectReason.RemoteClosed => "remote_closed",
        DisconnectReason.Reset => "reset",
        DisconnectReason.IdleTimeout => "idle_timeout",
        DisconnectReason.Limit => "limit",
        DisconnectReason.ServerStopping => "server_stopping",
        DisconnectReason.ProtocolError => "protocol_error",
        DisconnectReason.Killed => "killed",
        DisconnectReason.SlowConsumer => "slow_consumer",
        DisconnectReason.FrameTimeout => "frame_timeout",
        DisconnectReason.MemoryLimit => "memory_limit",
        DisconnectReason.TlsHandshakeTimeout => "tls_handshake_timeout",
        DisconnectReason.TlsError => "tls_error",
        DisconnectReason.IpLimit => "ip_limit",
        DisconnectReason.Denied => "denied",
        DisconnectReason.HandlerEnded => "handler_ended",
        DisconnectReason.ProxyProtocol => "proxy_protocol",
        DisconnectReason.ProxyHeaderTimeout => "proxy_header_timeout",
        DisconnectReason.ClientStopping => "client_stopping",
        _ => reason.ToString(),
    };
}
