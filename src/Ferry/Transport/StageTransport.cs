namespace Ferry.Transport;

/// <summary>How a stage moves bytes between its connections and its service thread.</summary>
public enum StageTransport
{
    /// <summary>
    /// <see cref="Epoll"/> on Linux for plain connections and a server stage's TLS (when OpenSSL 3 is
    /// there); <see cref="Stream"/> on other systems and for a client stage's TLS.
    /// </summary>
    Auto,

    /// <summary>
    /// Linux only: one epoll instance per stage, non-blocking <c>recv</c>/<c>send</c> on the service
    /// thread, raw frames received straight into the packet group. The fastest path. A server stage's
    /// TLS runs here too, on OpenSSL 3 (<c>libssl.so.3</c>) driven by the service thread; a client stage's
    /// TLS needs <see cref="Stream"/>.
    /// </summary>
    Epoll,

    /// <summary>
    /// Portable: each connection is a <see cref="System.IO.Stream"/> (a socket stream, or TLS over one)
    /// whose asynchronous reads and writes post readiness to the service thread. Carries TLS and runs
    /// where epoll does not; an idle connection holds no buffer.
    /// </summary>
    Stream,
}

/// <summary>Names and checks shared by both stages' <c>transport</c> option.</summary>
internal static class StageTransportChoice
{
    /// <summary>The transport a stage runs on: <see cref="StageTransport.Auto"/> resolved for this system.</summary>
    public static StageTransport Resolve(StageTransport requested, bool tls, bool server) => requested switch
    {
        StageTransport.Auto => OperatingSystem.IsLinux() && (!tls || server && Tls.OpenSsl.LibSsl.IsAvailable) ? StageTransport.Epoll : StageTransport.Stream,
        _ => requested,
    };

    public static void Validate(List<string> problems, StageTransport transport, bool tls, bool server)
    {
        if (!Enum.IsDefined(transport))
            problems.Add($"option 'transport': {transport} is not allowed; must be auto, epoll or stream");
        else if (transport == StageTransport.Epoll && !OperatingSystem.IsLinux())
            problems.Add("option 'transport': epoll is only available on Linux; use stream (or auto)");
        else if (transport == StageTransport.Epoll && tls && !server)
            problems.Add("option 'transport': a client stage's TLS runs on the stream transport; use stream (or auto) with 'tls'");
        else if (transport == StageTransport.Epoll && tls && !Tls.OpenSsl.LibSsl.IsAvailable)
            problems.Add("option 'transport': TLS on epoll needs OpenSSL 3 (libssl.so.3), which cannot be loaded here; use stream (or auto) with 'tls'");
    }
}
