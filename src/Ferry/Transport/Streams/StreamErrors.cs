using System.Net.Sockets;
using Ferry.Transport.Interop;

namespace Ferry.Transport.Streams;

/// <summary>Error codes and words for failures of stream I/O, in the same terms as the epoll transport's.</summary>
internal static class StreamErrors
{
    /// <summary>A non-zero code for a failure: the socket error when there is one.</summary>
    public static int Code(Exception ex) => Socket(ex) is { } se && se.SocketErrorCode != SocketError.Success
        ? (int)se.SocketErrorCode
        : (int)SocketError.SocketError;

    /// <summary>What went wrong: errno names on Linux (as the epoll transport says them), the message otherwise.</summary>
    public static string Describe(Exception ex)
    {
        if (Socket(ex) is { } se)
            return OperatingSystem.IsLinux() && se.NativeErrorCode > 0 ? Libc.Describe(se.NativeErrorCode) : $"{se.SocketErrorCode} ({se.Message})";
        return ex.Message;
    }

    private static SocketException? Socket(Exception ex) => ex as SocketException ?? ex.InnerException as SocketException;
}
