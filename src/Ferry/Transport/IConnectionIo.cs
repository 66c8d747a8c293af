namespace Ferry.Transport;

/// <summary>
/// How bytes come in and go out of one connection: the transport seam. The stage above it (framing,
/// grouping, routing, egress policy, timeouts, events) is written against this and
/// <see cref="IReadiness"/> only. <see cref="SocketIo"/> is the epoll fast path (one system call per
/// operation, no buffer of its own); a stream transport (TLS, systems without epoll) keeps its own
/// buffers and reports readiness through its <see cref="IReadiness"/>.
/// </summary>
/// <remarks>
/// Calls are non-blocking. <see cref="Receive"/> is made by the service thread only; <see cref="Send"/>
/// by whichever thread holds the connection's egress lock. <see cref="IDisposable.Dispose"/> is the close,
/// made once by the service thread under that lock.
/// </remarks>
internal interface IConnectionIo : IDisposable
{
    /// <summary>The error code of a failed handshake (TLS); <see cref="DescribeError"/> says why.</summary>
    const int HandshakeFailedError = -1000;

    /// <summary>Whether a handshake (TLS) runs before messages may flow; false for plain connections.</summary>
    bool HasHandshake { get; }

    /// <summary>True once, on the service thread, when the handshake has finished; <paramref name="info"/> is what it negotiated.</summary>
    bool TryCompleteHandshake(out Stages.TlsConnectionInfo? info);

    /// <summary>The error code of a connection refused before its handshake for sending a PROXY header it may not send.</summary>
    const int ProxyRefusedError = -1001;

    /// <summary>
    /// Before the stage watches it: the connection comes from a trusted proxy and begins with a PROXY
    /// header (<paramref name="trusted"/>), or from elsewhere and must not. Plain connections hand the
    /// header to the stage with the other bytes; a transport with a handshake (TLS) reads exactly the
    /// header in the clear, hands it over, and starts the handshake at <see cref="ProxyHeaderTaken"/>.
    /// </summary>
    void ExpectProxyHeader(bool trusted, Stages.ProxyProtocol accepted) { }

    /// <summary>The stage has taken the PROXY header and admitted the client: a handshake may start.</summary>
    void ProxyHeaderTaken() { }

    /// <summary>Reads into <paramref name="buffer"/>: &gt; 0 bytes read; 0 the peer closed; -1 nothing now (<paramref name="error"/> 0) or failed (an error code).</summary>
    int Receive(Span<byte> buffer, out int error);

    /// <summary>Writes from <paramref name="data"/>: bytes taken (0 when there is no room now, <paramref name="error"/> 0), or -1 with an error code.</summary>
    int Send(ReadOnlySpan<byte> data, out int error);

    /// <summary>Blocks the calling thread until the connection can take bytes or the timeout passes (the wait policy on the service thread).</summary>
    bool WaitWritable(int timeoutMs);

    /// <summary>Makes the close a reset instead of an orderly shutdown (a refused or misbehaving peer learns at once).</summary>
    void SetAbortiveClose();

    /// <summary>
    /// How many of the bytes the stage still holds at the close the transport has in fact taken and sends with it: the
    /// epoll TLS connection reports the last byte of a write whose ciphertext the socket did not take as not taken, so that
    /// the stage comes back to it, and its close then sends that ciphertext before the close_notify. The stage counts them
    /// sent, not dropped. Read under the egress lock, after <see cref="SetAbortiveClose"/> and before the close.
    /// </summary>
    int SentWithClose => 0;

    /// <summary>Words for an error code of <see cref="Receive"/> or <see cref="Send"/>.</summary>
    string DescribeError(int error);

    /// <summary>
    /// Whether the transport holds the beginning of a record it cannot pass on yet (TLS ciphertext of an
    /// unfinished record, no plaintext from it), and since when (<see cref="TimeProvider.GetTimestamp"/> of
    /// the stage's clock): the stage's frame deadline covers it as a frame begun. Plain connections hold none.
    /// </summary>
    bool HoldsPartialRecord(out long sinceTimestamp)
    {
        sinceTimestamp = 0;
        return false;
    }
}
