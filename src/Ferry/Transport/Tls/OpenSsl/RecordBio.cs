using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// Where one connection's OpenSSL reads ciphertext from and writes it to: a window on bytes the caller
/// received (<see cref="In"/>) and a window the caller sends from (<see cref="Out"/>). Native memory,
/// because OpenSSL's BIO callbacks reach it through a plain pointer.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RecordWindows
{
    /// <summary>Received ciphertext OpenSSL has not taken yet.</summary>
    public byte* In;
    public int InLength;

    /// <summary>Ciphertext OpenSSL produced, to be sent; <see cref="OutCapacity"/> bytes are writable at <see cref="Out"/>.</summary>
    public byte* Out;
    public int OutLength;
    public int OutCapacity;

    /// <summary>Whether <see cref="Out"/> is this connection's own allocation (else a borrowed scratch).</summary>
    public int OutOwned;
}

/// <summary>
/// A BIO type of Ferry's own: OpenSSL reads the ciphertext the service loop received and writes the
/// ciphertext to be sent into <see cref="RecordWindows"/>, so the connection decides when and how much
/// to send (all records of a burst in one <c>send</c>) and holds no buffer while idle, unlike
/// <c>BIO_s_mem</c>, whose buffer keeps its largest size for the connection's life.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe class RecordBio
{
    private const int RetryRead = BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY;
    private const int RetryFlags = 0x0f; // BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY

    private static readonly nint Method = CreateMethod();

    private static nint CreateMethod()
    {
        var name = "ferry-records\0"u8;
        nint method;
        fixed (byte* p = name)
            method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x7f, p);
        if (method == 0)
            throw new InvalidOperationException("OpenSSL: BIO_meth_new failed: " + TakeErrors());
        // The method lives as long as the process: every connection's BIO uses it.
        BIO_meth_set_write_ex(method, (nint)(delegate* unmanaged<nint, byte*, nuint, nuint*, int>)&Write);
        BIO_meth_set_read_ex(method, (nint)(delegate* unmanaged<nint, byte*, nuint, nuint*, int>)&Read);
        BIO_meth_set_ctrl(method, (nint)(delegate* unmanaged<nint, int, nint, nint, nint>)&Control);
        return method;
    }

    /// <summary>A new BIO over <paramref name="windows"/> (which must outlive it).</summary>
    public static nint Create(RecordWindows* windows)
    {
        var bio = BIO_new(Method);
        if (bio == 0)
            throw new InvalidOperationException("OpenSSL: BIO_new failed: " + TakeErrors());
        BIO_set_data(bio, (nint)windows);
        BIO_set_init(bio, 1);
        return bio;
    }

    [UnmanagedCallersOnly]
    private static int Read(nint bio, byte* data, nuint length, nuint* read)
    {
        var w = (RecordWindows*)BIO_get_data(bio);
        BIO_clear_flags(bio, RetryFlags);
        if (w->InLength == 0)
        {
            // Nothing received yet: OpenSSL reports SSL_ERROR_WANT_READ and the loop waits for readiness.
            BIO_set_flags(bio, RetryRead);
            *read = 0;
            return 0;
        }
        var n = (int)Math.Min((nuint)w->InLength, length);
        Unsafe.CopyBlockUnaligned(data, w->In, (uint)n);
        w->In += n;
        w->InLength -= n;
        *read = (nuint)n;
        return 1;
    }

    [UnmanagedCallersOnly]
    private static int Write(nint bio, byte* data, nuint length, nuint* written)
    {
        var w = (RecordWindows*)BIO_get_data(bio);
        BIO_clear_flags(bio, RetryFlags);
        var n = (int)length;
        if (w->OutLength + n > w->OutCapacity)
            Grow(w, w->OutLength + n);
        Unsafe.CopyBlockUnaligned(w->Out + w->OutLength, data, (uint)n);
        w->OutLength += n;
        *written = length;
        return 1;
    }

    /// <summary>Moves the pending output into an allocation of the connection's own that holds <paramref name="needed"/> bytes.</summary>
    public static void Grow(RecordWindows* w, int needed)
    {
        var capacity = Math.Max(needed, Math.Max(4096, w->OutCapacity * 2));
        var bigger = (byte*)NativeMemory.Alloc((nuint)capacity);
        if (w->OutLength > 0)
            Unsafe.CopyBlockUnaligned(bigger, w->Out, (uint)w->OutLength);
        if (w->OutOwned != 0)
            NativeMemory.Free(w->Out);
        w->Out = bigger;
        w->OutCapacity = capacity;
        w->OutOwned = 1;
    }

    [UnmanagedCallersOnly]
    private static nint Control(nint bio, int command, nint number, nint pointer)
        // Flush succeeds (the caller sends); nothing else is supported, which OpenSSL reads as "no".
        => command == BIO_CTRL_FLUSH ? 1 : 0;
}
