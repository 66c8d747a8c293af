namespace Ferry.Stages;

/// <summary>
/// Whether a server stage expects HAProxy's PROXY protocol header from its trusted proxies
/// (<see cref="TcpServerStageOptions.TrustedProxies"/>), ahead of the framing and of TLS, so the
/// connection's peer is the real client and the proxy's address is kept as <c>via</c>.
/// </summary>
public enum ProxyProtocol
{
    /// <summary>No PROXY header is expected; the socket's peer is the client (default).</summary>
    Off,
    /// <summary>The text header (version 1, at most 107 bytes) is required from trusted proxies.</summary>
    V1,
    /// <summary>The binary header (version 2, HAProxy's <c>send-proxy-v2</c>) is required from trusted proxies.</summary>
    V2,
    /// <summary>Either version is accepted from trusted proxies.</summary>
    Any,
}
