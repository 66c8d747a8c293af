using System.Net;

namespace Ferry.Transport;

/// <summary>
/// One stage's transport: its readiness (what the service loop waits on), how it listens and how it
/// dials. The stage's connection sources (<c>Acceptor</c>, <c>Dialer</c>) keep their policy (bind retry,
/// limits, back-off, deadlines) and ask the transport only for the mechanism.
/// </summary>
internal interface ITransport
{
    /// <summary>The stage's readiness; the service loop disposes it when it ends.</summary>
    IReadiness Readiness { get; }

    /// <summary>The stage's lingering closes (<c>close_linger</c>): its connections' graceful closes, counted and bounded.</summary>
    CloseLinger Linger { get; }

    /// <summary>
    /// How long a newcomer that meets a full connection limit waits for a place: zero when the next wait on readiness
    /// reports every hang-up that came before it (epoll), so one round is enough; more when a hang-up travels from a read
    /// pending on another thread and may reach the stage after a connect that came later (streams).
    /// </summary>
    TimeSpan LimitWait { get; }

    /// <summary>Binds and listens, watched under <paramref name="token"/>; throws <see cref="System.Net.Sockets.SocketException"/> or <see cref="IOException"/> when the address cannot be had.</summary>
    IListener Listen(BindAddress address, int backlog, TcpSocketOptions options, long token);

    /// <summary>A new dial attempt whose outcome is reported under <paramref name="token"/>.</summary>
    IDialAttempt CreateDial(long token);
}

/// <summary>What one accept call gave.</summary>
internal enum AcceptStatus
{
    /// <summary>A connection was taken.</summary>
    Accepted,
    /// <summary>Nobody is waiting; the listener will be reported ready again.</summary>
    Empty,
    /// <summary>That one client is gone; the listener is fine, accepting may go on.</summary>
    Transient,
    /// <summary>Out of descriptors or memory: pause accepting for a while.</summary>
    OutOfResources,
    /// <summary>
    /// A connection was taken, but its descriptor is in the reserve kept for the runtime: shed it (reset), then
    /// <see cref="IListener.Resume"/> and go on accepting (the next one may be shed too, or fit again).
    /// </summary>
    AtReserve,
    /// <summary>The listener itself failed: rebuild it.</summary>
    Broken,
}

/// <summary>An accepted connection: its I/O, its addresses and a problem applying socket options, if any.</summary>
internal readonly record struct AcceptedConnection(IConnectionIo Io, IPEndPoint Peer, IPEndPoint Local, string? SetupProblem);

/// <summary>A bound, listening socket of some transport, watched by the stage's readiness.</summary>
internal interface IListener : IDisposable
{
    IPEndPoint LocalEndPoint { get; }

    /// <summary>Takes one pending connection (non-blocking); <paramref name="error"/> says why when it is not <see cref="AcceptStatus.Accepted"/>.</summary>
    AcceptStatus TryAccept(out AcceptedConnection accepted, out string error);

    /// <summary>Stops reporting the listener ready (descriptors ran out) until <see cref="Resume"/>.</summary>
    void Pause();

    /// <summary>
    /// Reports the listener ready again after <see cref="Pause"/>, and lets a listener that stopped taking
    /// connections after one in the reserve (<see cref="AcceptStatus.AtReserve"/>) take the next, now that
    /// that one is closed. Cheap when there is nothing to resume.
    /// </summary>
    void Resume();

    /// <summary>
    /// Stops (false) or starts again (true) reporting the listener ready while a connection waits for its verdict at a full
    /// limit, and does nothing else: unlike <see cref="Resume"/>, it lets no accept held at the reserve go on.
    /// </summary>
    void ReportReady(bool ready);

    /// <summary>Fault injection for tests: breaks the listening socket in the kernel.</summary>
    void BreakForTest();
}

/// <summary>One outgoing connection attempt of some transport. Disposing it closes the socket unless it was taken.</summary>
internal interface IDialAttempt : IDisposable
{
    /// <summary>
    /// Starts connecting to <paramref name="target"/>: null when the attempt goes on (or, with
    /// <paramref name="connected"/>, is already done), else why it failed. <paramref name="setupProblem"/>
    /// reports socket options that could not be applied (the attempt goes on).
    /// </summary>
    string? Start(IPEndPoint target, BindAddress? local, TcpSocketOptions options, out bool connected, out string? setupProblem);

    /// <summary>After the attempt's readiness event: null when connected, else why it failed.</summary>
    string? Outcome();

    /// <summary>Hands over the connected socket; the attempt owns nothing afterwards.</summary>
    IConnectionIo TakeConnection(out IPEndPoint? local);
}
