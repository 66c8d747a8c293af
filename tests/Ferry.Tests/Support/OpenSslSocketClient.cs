using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Ferry.Tests.Support;

/// <summary>
/// A blocking TLS client on OpenSSL straight over a socket, for what SslStream does not tell: how the session ended. SslStream
/// returns 0 from a read both for the peer's close_notify and for a bare EOF at a record boundary (a truncation); OpenSSL 3
/// tells them apart (<c>SSL_ERROR_ZERO_RETURN</c> and <c>SSL_RECEIVED_SHUTDOWN</c> only after a close_notify; an EOF without
/// one is <c>SSL_ERROR_SSL</c>, "unexpected eof while reading").
/// </summary>
internal sealed partial class OpenSslSocketClient : IDisposable
{
    private const string Ssl = "libssl.so.3";
    private const int SslErrorZeroReturn = 6;
    private const int SslErrorWantRead = 2;
    private const int SslErrorWantWrite = 3;

    /// <summary>How long a read or write may wait (the socket's timeouts), and so how long a call is tried again.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private const int SslReceivedShutdown = 2;

    private readonly nint _ctx;
    private readonly nint _ssl;

    /// <summary>The socket under the session (blocking): set its buffers before <see cref="ConnectAsync"/>.</summary>
    public Socket Socket { get; } = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public OpenSslSocketClient()
    {
        _ctx = SSL_CTX_new(TLS_client_method());
        _ssl = SSL_new(_ctx);
        // A read that waits this long fails the test instead of hanging it.
        Socket.ReceiveTimeout = (int)Patience.TotalMilliseconds;
        Socket.SendTimeout = (int)Patience.TotalMilliseconds;
    }

    public static bool IsAvailable => OperatingSystem.IsLinux() && NativeLibrary.TryLoad(Ssl, out _);

    /// <summary>Connects and runs the handshake (no certificate check: the tests' server certificate is self-signed).</summary>
    public async Task ConnectAsync(IPEndPoint server)
    {
        await Task.Run(() =>
        {
            // Synchronous calls only: an asynchronous one makes .NET switch the descriptor to non-blocking, and OpenSSL's
            // blocking calls then fail with "want read".
            Socket.Connect(server);
            if (SSL_set_fd(_ssl, (int)Socket.Handle) != 1 || Retried(() => SSL_connect(_ssl)) != 1)
                throw new InvalidOperationException("the TLS handshake failed");
        });
    }

    public unsafe void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var at = (nint)p;
            var length = data.Length;
            if (Retried(() => SSL_write(_ssl, (byte*)at, length)) != length)
                throw new InvalidOperationException("SSL_write failed");
        }
    }

    /// <summary>
    /// A call on the blocking socket, tried again while OpenSSL says "want read/write" within <see cref="Patience"/>: on a
    /// blocking socket that is a recv or send a signal interrupted (EINTR: a socket with a timeout is not restarted, and the
    /// runtime signals its threads, more often under load), not the peer's silence. It failed a test as a session that
    /// ended without close_notify, 67 ms in.
    /// </summary>
    private int Retried(Func<int> call)
    {
        var deadline = Environment.TickCount64 + (long)Patience.TotalMilliseconds;
        while (true)
        {
            var n = call();
            if (n > 0 || Environment.TickCount64 >= deadline || SSL_get_error(_ssl, n) is not (SslErrorWantRead or SslErrorWantWrite))
                return n;
        }
    }

    /// <summary>
    /// Reads until the session ends: the plaintext bytes, and whether it ended with the peer's close_notify (else a bare
    /// EOF, a reset or a protocol error: <paramref name="error"/> says which, as SSL_get_error's code).
    /// </summary>
    public unsafe long ReadToEnd(out bool closeNotify, out int error)
    {
        var buffer = new byte[16 * 1024];
        long total = 0;
        while (true)
        {
            int n;
            fixed (byte* p = buffer)
            {
                var at = (nint)p;
                n = Retried(() => SSL_read(_ssl, (byte*)at, buffer.Length));
            }
            if (n > 0)
            {
                total += n;
                continue;
            }
            error = SSL_get_error(_ssl, n);
            closeNotify = error == SslErrorZeroReturn && (SSL_get_shutdown(_ssl) & SslReceivedShutdown) != 0;
            return total;
        }
    }

    public void Dispose()
    {
        SSL_free(_ssl);
        SSL_CTX_free(_ctx);
        Socket.Dispose();
    }

    [LibraryImport(Ssl)] private static partial nint TLS_client_method();
    [LibraryImport(Ssl)] private static partial nint SSL_CTX_new(nint method);
    [LibraryImport(Ssl)] private static partial void SSL_CTX_free(nint ctx);
    [LibraryImport(Ssl)] private static partial nint SSL_new(nint ctx);
    [LibraryImport(Ssl)] private static partial void SSL_free(nint ssl);
    [LibraryImport(Ssl)] private static partial int SSL_set_fd(nint ssl, int fd);
    [LibraryImport(Ssl)] private static partial int SSL_connect(nint ssl);
    [LibraryImport(Ssl)] private static unsafe partial int SSL_read(nint ssl, byte* buffer, int length);
    [LibraryImport(Ssl)] private static unsafe partial int SSL_write(nint ssl, byte* buffer, int length);
    [LibraryImport(Ssl)] private static partial int SSL_get_error(nint ssl, int ret);
    [LibraryImport(Ssl)] private static partial int SSL_get_shutdown(nint ssl);
}
