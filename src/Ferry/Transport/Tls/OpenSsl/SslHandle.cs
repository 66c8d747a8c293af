using System.Runtime.InteropServices;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// One OpenSSL <c>SSL</c> with its BIO and the <see cref="RecordWindows"/> that BIO reads and writes.
/// Freed once, when the last user lets go (a close in the middle of a handshake included), and counted
/// while alive so tests can show that connections leave nothing behind.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class SslHandle : SafeHandle
{
    private readonly LiveCount? _count;

    /// <summary>Held (a SafeHandle reference) so the context is not freed under SSL_new; OpenSSL then holds its own.</summary>
    private readonly SslContextHandle _context;

    /// <param name="context">The context it is made from.</param>
    /// <param name="server">Whether it accepts (else connects).</param>
    /// <param name="count">Counts it while it is alive (a stage's sessions, for tests and leaks); optional.</param>
    public SslHandle(SslContextHandle context, bool server, LiveCount? count = null) : base(0, ownsHandle: true)
    {
        _count = count;
        var added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        var windows = (RecordWindows*)NativeMemory.AllocZeroed((nuint)sizeof(RecordWindows));
        var ssl = SSL_new(context.DangerousGetHandle());
        if (ssl == 0)
        {
            NativeMemory.Free(windows);
            context.DangerousRelease();
            throw new InvalidOperationException("OpenSSL: SSL_new failed: " + TakeErrors());
        }
        Windows = windows;
        SetHandle(ssl);
        _count?.Add(1);
        // One BIO both ways; SSL_free frees it.
        var bio = RecordBio.Create(windows);
        SSL_set_bio(ssl, bio, bio);
        if (server)
            SSL_set_accept_state(ssl);
        else
            SSL_set_connect_state(ssl);
    }

    /// <summary>The ciphertext windows of this connection's BIO.</summary>
    public RecordWindows* Windows { get; }

    /// <summary>The raw <c>SSL*</c>; valid while this handle is not released.</summary>
    public nint Ssl => handle;

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        SSL_free(handle);
        var w = Windows;
        if (w->OutOwned != 0)
            NativeMemory.Free(w->Out);
        NativeMemory.Free(w);
        _context.DangerousRelease();
        _count?.Add(-1);
        return true;
    }
}

/// <summary>How many of something are alive (created and not yet freed).</summary>
internal sealed class LiveCount
{
    private long _value;

    public long Value => Interlocked.Read(ref _value);

    public void Add(long delta) => Interlocked.Add(ref _value, delta);
}
