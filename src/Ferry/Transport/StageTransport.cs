using System.Runtime.Versioning;

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
    /// <summary>
    /// Whether the epoll transport can run on this system: Linux. The platform-compatibility analyzer (CA1416)
    /// takes it as a Linux guard, so epoll code behind it is proven unreachable on Windows and macOS.
    /// </summary>
    [SupportedOSPlatformGuard("linux")]
    public static bool EpollHere => OperatingSystem.IsLinux();

    /// <summary>Whether a server stage's TLS can run on epoll here: Linux with OpenSSL 3 (<c>libssl.so.3</c>).</summary>
    [SupportedOSPlatformGuard("linux")]
    public static bool EpollTlsHere => OperatingSystem.IsLinux() && Tls.OpenSsl.LibSsl.IsAvailable;

    /// <summary>The transport a stage runs on: <see cref="StageTransport.Auto"/> resolved for this system.</summary>
    /// <remarks>OpenSSL is looked for only for a server with TLS: loading it costs a plain server about 2 MB of resident
    /// memory (libssl and libcrypto mapped and relocated) for nothing.</remarks>
    public static StageTransport Resolve(StageTransport requested, bool tls, bool server)
        => Resolve(requested, tls, server, EpollHere, tls && server && EpollTlsHere);

    /// <summary>
    /// <see cref="StageTransport.Auto"/> resolved for a system that has epoll (<paramref name="epollHere"/>) and
    /// OpenSSL 3 for it (<paramref name="epollTlsHere"/>) or not: what this system decides, said as facts a test
    /// can give for another system without pretending to run there.
    /// </summary>
    internal static StageTransport Resolve(StageTransport requested, bool tls, bool server, bool epollHere, bool epollTlsHere) => requested switch
    {
        StageTransport.Auto => epollHere && (!tls || server && epollTlsHere) ? StageTransport.Epoll : StageTransport.Stream,
        _ => requested,
    };

    /// <summary>The option's problems on this system; OpenSSL is looked for only for a server with TLS (see <see cref="Resolve(StageTransport, bool, bool)"/>).</summary>
    public static void Validate(List<string> problems, StageTransport transport, bool tls, bool server)
        => Validate(problems, transport, tls, server, EpollHere, tls && server && EpollTlsHere);

    /// <summary>The option's problems on a system described as for <see cref="Resolve(StageTransport, bool, bool, bool, bool)"/>.</summary>
    internal static void Validate(List<string> problems, StageTransport transport, bool tls, bool server, bool epollHere, bool epollTlsHere)
    {
        if (!Enum.IsDefined(transport))
            problems.Add($"option 'transport': {transport} is not allowed; must be auto, epoll or stream");
        else if (transport == StageTransport.Epoll && !epollHere)
            problems.Add(EpollOnlyOnLinux);
        else if (transport == StageTransport.Epoll && tls && !server)
            problems.Add($"option 'transport': a client stage's TLS runs on the stream transport; use stream (or auto) with '{Ferry.Stages.StageOptionsException.Mark("tls")}'");
        else if (transport == StageTransport.Epoll && tls && !epollTlsHere)
            problems.Add($"option 'transport': TLS on epoll needs OpenSSL 3 (libssl.so.3), which cannot be loaded here; use stream (or auto) with '{Ferry.Stages.StageOptionsException.Mark("tls")}'");
    }

    /// <summary>Why epoll was refused off Linux, and what to use instead.</summary>
    public const string EpollOnlyOnLinux = "option 'transport': epoll is only available on Linux; use stream (or auto)";
}
