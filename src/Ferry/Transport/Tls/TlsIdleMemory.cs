using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Ferry.Transport.Tls;

/// <summary>
/// Gives back what a TLS connection still holds from its handshake, so an idle one costs little.
/// Measured on .NET 10 with OpenSSL 3 (docs/benchmarks.md, issue 11): an idle server connection held
/// about 50 KiB, of which about 34 KiB were OpenSSL's read and write record buffers (.NET does not set
/// <c>SSL_MODE_RELEASE_BUFFERS</c>, so they stay for the connection's life) and 4 KiB were
/// <see cref="SslStream"/>'s handshake read buffer (given back only when a read completes, and an idle
/// connection's read never does).
/// </summary>
/// <remarks>
/// <para>Called once, right after the handshake and before any read or write is started on the stream, so
/// nothing else uses the connection's OpenSSL object meanwhile. With the mode set, OpenSSL frees and allocates a
/// record buffer in each call, so two threads in one session at once (which OpenSSL never allows) corrupt the heap
/// instead of the session: SslStream serializes its reads and writes, and the stream transport keeps its
/// close_notify out of a read's way (<see cref="Streams.WaitThenReadStream.StopReading"/>).</para>
/// <para>Only on an OpenSSL whose <c>SSL_free_buffers</c> leaves a buffer in use alone (CVE-2024-4741: fixed in
/// 3.0.14, 3.1.6, 3.2.2, 3.3.1): bytes of the peer's that came with the handshake's last flight may wait in the read
/// buffer.</para>
/// <para>Reaching that object takes one private
/// field of <see cref="SslStream"/>; when the runtime is not the one this was measured on (another field
/// layout, another TLS library, another OpenSSL than <c>libssl.so.3</c>) nothing is done and the
/// connection simply keeps its buffers.</para>
/// </remarks>
internal static class TlsIdleMemory
{
    /// <summary>A token that is cancelled already: a read with it ends at once without reading.</summary>
    private static readonly CancellationToken Cancelled = new(canceled: true);

    private static readonly FieldInfo? SecurityContext =
        typeof(SslStream).GetField("_securityContext", BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly OpenSslModes? OpenSsl = OpenSslModes.Load();

    /// <summary>Drops the stream's and OpenSSL's buffers; later reads and writes allocate them as they need and give them back after.</summary>
    public static async ValueTask TrimAsync(SslStream ssl)
    {
        OpenSsl?.ReleaseBuffers(ssl);
        try
        {
            // SslStream returns its read buffer when a read ends with nothing buffered; a zero-byte read
            // that is cancelled before it waits ends exactly so (bytes already buffered stay, and are read next).
            await ssl.ReadAsync(Memory<byte>.Empty, Cancelled).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The connection failed meanwhile: the next read reports it.
        }
    }

    /// <summary>
    /// Whether <paramref name="version"/> (<c>OPENSSL_VERSION_NUMBER</c>: 0xMNN00PP0) is an OpenSSL 3 whose
    /// <c>SSL_free_buffers</c> refuses to free a buffer still in use (CVE-2024-4741).
    /// </summary>
    internal static bool FreesBuffersSafely(long version)
    {
        if (version >> 28 != 3)
            return false;
        var minor = (int)(version >> 20) & 0xff;
        var patch = (int)(version >> 4) & 0xff;
        return minor switch
        {
            0 => patch >= 14,
            1 => patch >= 6,
            2 => patch >= 2,
            3 => patch >= 1,
            _ => true,
        };
    }

    /// <summary>OpenSSL's <c>SSL_ctrl</c> and <c>SSL_free_buffers</c>, from the libssl the runtime loaded.</summary>
    private sealed unsafe class OpenSslModes
    {
        private const int SslCtrlMode = 33; // SSL_CTRL_MODE
        private const nint ModeReleaseBuffers = 0x10; // SSL_MODE_RELEASE_BUFFERS

        private readonly delegate* unmanaged<nint, int, nint, nint, nint> _ctrl;
        private readonly delegate* unmanaged<nint, int> _freeBuffers;

        private OpenSslModes(delegate* unmanaged<nint, int, nint, nint, nint> ctrl, delegate* unmanaged<nint, int> freeBuffers)
        {
            _ctrl = ctrl;
            _freeBuffers = freeBuffers;
        }

        public static OpenSslModes? Load()
        {
            if (!OperatingSystem.IsLinux() || SecurityContext is null)
                return null;
            try
            {
                // Only the OpenSSL 3 the runtime itself uses: its SSL objects are what we are handed.
                if (!FreesBuffersSafely(SafeEvpPKeyHandle.OpenSslVersion) || !NativeLibrary.TryLoad("libssl.so.3", out var lib))
                    return null;
                if (!NativeLibrary.TryGetExport(lib, "SSL_ctrl", out var ctrl) || !NativeLibrary.TryGetExport(lib, "SSL_free_buffers", out var free))
                    return null;
                return new OpenSslModes((delegate* unmanaged<nint, int, nint, nint, nint>)ctrl, (delegate* unmanaged<nint, int>)free);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or PlatformNotSupportedException or TypeInitializationException)
            {
                return null;
            }
        }

        /// <summary>Sets <c>SSL_MODE_RELEASE_BUFFERS</c> (record buffers go back after each read and write) and frees the ones held now.</summary>
        public void ReleaseBuffers(SslStream ssl)
        {
            // The runtime's OpenSSL object for this stream, only if it is the type measured (a SafeSslHandle over an SSL*).
            if (SecurityContext!.GetValue(ssl) is not SafeHandle { IsInvalid: false } context || context.GetType().Name != "SafeSslHandle")
                return;
            var added = false;
            try
            {
                context.DangerousAddRef(ref added);
                var handle = context.DangerousGetHandle();
                _ctrl(handle, SslCtrlMode, ModeReleaseBuffers, 0);
                _freeBuffers(handle);
            }
            catch (ObjectDisposedException)
            {
                // Closed meanwhile: nothing left to give back.
            }
            finally
            {
                if (added)
                    context.DangerousRelease();
            }
        }
    }
}
