using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// One TLS session driven by hand: received ciphertext goes in (<see cref="Feed"/>), plaintext comes out
/// (<see cref="Decrypt"/>); plaintext goes in (<see cref="Encrypt"/>), ciphertext comes out
/// (<see cref="Output"/>, <see cref="Consumed"/>). No thread, no buffer of its own while idle: the
/// caller owns the socket and decides when to read and send.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class TlsRecordSession : IDisposable
{
    /// <summary>The outcome of a step of the handshake.</summary>
    public enum Step
    {
        /// <summary>Waiting for the peer's next bytes.</summary>
        More,
        Done,
        Failed,
    }

    /// <summary>64 KiB of plaintext and the record overhead of its five records.</summary>
    private const int ScratchBytes = 65 * 1024;

    /// <summary>Where a thread's ciphertext is written first; moved into a buffer of the session's own only when it cannot all be sent.</summary>
    [ThreadStatic]
    private static byte[]? t_scratch;

    private readonly SslHandle _ssl;

    public TlsRecordSession(SslContextHandle context, bool server, LiveCount? count = null) => _ssl = new SslHandle(context, server, count);

    /// <summary>The OpenSSL object (for the server-name callback and the negotiated details).</summary>
    public SslHandle Handle => _ssl;

    /// <summary>Received ciphertext not yet taken by OpenSSL: the caller keeps it (and feeds it again) when nonzero after a call.</summary>
    public int InLeft => _ssl.Windows->InLength;

    /// <summary>Where the fed ciphertext OpenSSL has not taken (<see cref="InLeft"/> bytes) begins.</summary>
    public byte* FedRemainder => _ssl.Windows->In;

    /// <summary>Ciphertext waiting to be sent.</summary>
    public int OutLength => _ssl.Windows->OutLength;

    /// <summary>Whether plaintext is decrypted and waiting in OpenSSL (more than the last destination took).</summary>
    public bool HasPlaintext => SSL_pending(_ssl.Ssl) > 0;

    /// <summary>The ciphertext OpenSSL reads next; <paramref name="data"/> must stay put until <see cref="InLeft"/> is 0 or it is fed again.</summary>
    public void Feed(byte* data, int length)
    {
        var w = _ssl.Windows;
        w->In = data;
        w->InLength = length;
    }

    /// <summary>Runs the handshake as far as the bytes fed allow; its output waits in <see cref="Output"/>.</summary>
    public Step Handshake(out string? error)
    {
        error = null;
        PrepareOutput();
        var rc = SSL_do_handshake(_ssl.Ssl);
        if (rc == 1)
            return Step.Done;
        var code = SSL_get_error(_ssl.Ssl, rc);
        if (code is SSL_ERROR_WANT_READ or SSL_ERROR_WANT_WRITE)
            return Step.More;
        error = Describe(code, "tls handshake failed");
        return Step.Failed;
    }

    /// <summary>
    /// Decrypts what was fed into <paramref name="destination"/> until it is full or the fed bytes hold no
    /// further complete record: the plaintext length (0 when none yet), or -1 when the peer closed the TLS
    /// session (close_notify), or -2 on a TLS error (<paramref name="error"/>).
    /// </summary>
    public int Decrypt(Span<byte> destination, out string? error)
    {
        error = null;
        var total = 0;
        PrepareOutput();
        fixed (byte* d = destination)
        {
            while (total < destination.Length)
            {
                var asked = destination.Length - total;
                var n = SSL_read(_ssl.Ssl, d + total, asked);
                if (n > 0)
                {
                    total += n;
                    // Less than asked is the end of a record; with nothing more fed, another SSL_read would
                    // only say "want read" (three native calls for nothing on every small message).
                    if (n < asked && _ssl.Windows->InLength == 0)
                        break;
                    continue;
                }
                var code = SSL_get_error(_ssl.Ssl, n);
                if (code is SSL_ERROR_WANT_READ or SSL_ERROR_WANT_WRITE)
                    break;
                if (total > 0)
                    break; // report the plaintext first; the failure comes again on the next call
                if (code == SSL_ERROR_ZERO_RETURN)
                    return -1;
                error = Describe(code, "tls error");
                return -2;
            }
        }
        return total;
    }

    /// <summary>Encrypts all of <paramref name="data"/> (records of up to 16 KiB) into <see cref="Output"/>; false on a TLS error.</summary>
    public bool Encrypt(ReadOnlySpan<byte> data, out string? error)
    {
        error = null;
        PrepareOutput();
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = SSL_write(_ssl.Ssl, p + done, data.Length - done);
                if (n <= 0)
                {
                    error = Describe(SSL_get_error(_ssl.Ssl, n), "tls error");
                    return false;
                }
                done += n;
            }
        }
        return true;
    }

    /// <summary>Writes the session's close_notify alert into <see cref="Output"/> (what a graceful close sends before the FIN).</summary>
    public void CloseNotify()
    {
        PrepareOutput();
        // 0 (sent, the peer's not yet seen) or 1 (both seen) are both done for a close that does not wait for the peer's.
        if (SSL_shutdown(_ssl.Ssl) < 0)
            TakeErrors();
    }

    /// <summary>The ciphertext waiting to be sent.</summary>
    public ReadOnlySpan<byte> Output
    {
        get
        {
            var w = _ssl.Windows;
            return new ReadOnlySpan<byte>(w->Out, w->OutLength);
        }
    }

    /// <summary>
    /// <paramref name="sent"/> bytes of <see cref="Output"/> went out. What is left moves into a buffer of the
    /// session's own (the thread's scratch is for the next caller); nothing left frees it.
    /// </summary>
    public void Consumed(int sent)
    {
        var w = _ssl.Windows;
        var left = w->OutLength - sent;
        if (left <= 0)
        {
            if (w->OutOwned != 0)
                NativeMemory.Free(w->Out);
            w->Out = null;
            w->OutLength = 0;
            w->OutCapacity = 0;
            w->OutOwned = 0;
            return;
        }
        if (w->OutOwned != 0)
        {
            Buffer.MemoryCopy(w->Out + sent, w->Out, w->OutCapacity, left);
            w->OutLength = left;
            return;
        }
        var own = (byte*)NativeMemory.Alloc((nuint)left);
        Unsafe.CopyBlockUnaligned(own, w->Out + sent, (uint)left);
        w->Out = own;
        w->OutLength = left;
        w->OutCapacity = left;
        w->OutOwned = 1;
    }

    /// <summary>Points an empty output window at this thread's scratch, so OpenSSL's writes cost no allocation.</summary>
    private void PrepareOutput()
    {
        var w = _ssl.Windows;
        if (w->OutLength != 0 || w->OutOwned != 0)
            return;
        // Pinned and per thread: OpenSSL writes into it only during this thread's call.
        var scratch = t_scratch ??= GC.AllocateUninitializedArray<byte>(ScratchBytes, pinned: true);
        w->Out = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(scratch));
        w->OutCapacity = scratch.Length;
    }

    /// <summary>Words for an OpenSSL failure, with the first queued library error when there is one.</summary>
    private static string Describe(int code, string what)
    {
        var detail = TakeErrors();
        var kind = code switch
        {
            SSL_ERROR_SYSCALL => "the connection failed",
            SSL_ERROR_ZERO_RETURN => "the peer closed the TLS session",
            _ => "protocol error",
        };
        return detail.Length == 0 ? $"{what}: {kind}" : $"{what}: {kind} ({detail})";
    }

    public void Dispose() => _ssl.Dispose();
}
