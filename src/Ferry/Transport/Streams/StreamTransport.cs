using System.Net.Sockets;

namespace Ferry.Transport.Streams;

/// <summary>
/// The portable transport: connections are streams (a socket's, or TLS over it) driven by asynchronous
/// I/O that posts readiness to the stage's service loop. Runs wherever .NET sockets do and carries TLS.
/// </summary>
/// <param name="readBufferBytes">Bytes one read takes (the stage's <c>read_buffer_bytes</c>).</param>
/// <param name="handshake">A handshake each connection runs before messages flow (TLS); null for plain connections.</param>
/// <param name="linger">The stage's lingering closes (<c>close_linger</c>, its clock, the bound); the default, unbounded, when null.</param>
internal sealed class StreamTransport(int readBufferBytes, IStreamHandshake? handshake = null, CloseLinger? linger = null) : ITransport
{
    private readonly PostedReadiness _readiness = new();

    public CloseLinger Linger { get; } = linger ?? CloseLinger.Unbounded;

    public IReadiness Readiness => _readiness;

    /// <summary>
    /// A hang-up is learned when the read pending on a pool thread completes and posts, which may come after the accept loop
    /// has posted a client that connected later: the newcomer waits this long for it (a pool thread's hand-off takes well under
    /// a millisecond; a busy pool, some more). A connection that closes meanwhile ends the wait at once.
    /// </summary>
    public TimeSpan LimitWait => TimeSpan.FromMilliseconds(50);

    public IListener Listen(BindAddress address, int backlog, TcpSocketOptions options, long token)
        => StreamListener.Open(_readiness, address, backlog, options, token, Connect);

    public IDialAttempt CreateDial(long token) => new StreamDial(_readiness, token, Connect);

    private IConnectionIo Connect(Socket socket) => new StreamConnectionIo(socket, readBufferBytes, handshake, Linger);
}
