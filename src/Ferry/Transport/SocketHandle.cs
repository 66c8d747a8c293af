using Microsoft.Win32.SafeHandles;
using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>
/// Owns one kernel descriptor (a socket, the epoll instance, the wake-up eventfd) and closes it once.
/// The hot path reads <see cref="Fd"/> without reference counting: a connection's descriptor is only
/// ever closed by the service thread under the connection's egress lock, after which nothing uses it.
/// Code that may race a close (the wake-up from other threads) takes a reference instead.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class SocketHandle : SafeHandleMinusOneIsInvalid
{
    public SocketHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The descriptor number; meaningless once the handle is closed.</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
