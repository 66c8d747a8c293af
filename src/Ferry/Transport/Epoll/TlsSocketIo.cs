using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ferry.Stages;
using Ferry.Transport.Interop;
using Ferry.Transport.Proxy;
using Ferry.Transport.Tls;
using Ferry.Transport.Tls.OpenSsl;

namespace Ferry.Transport.Epoll;

/// <summary>
/// A server TLS connection on the epoll transport: OpenSSL driven by hand on the service loop
/// (<see cref="TlsRecordSession"/>), with <c>recv</c>/<c>send</c> on the descriptor as <see cref="SocketIo"/>.
/// </summary>
/// <remarks>
/// <para>Handshake: each readiness event of the connection runs <see cref="TryCompleteHandshake"/>: one
/// <c>recv</c>, the bytes fed to OpenSSL, its answer sent. While it runs, the stage's write interest is
/// held back (nothing may be sent yet); writability is watched only while a handshake flight waits to go.
/// The stage's handshake deadline applies as on the stream transport.</para>
/// <para>Reading: one <c>recv</c> of ciphertext into the thread's scratch, then every complete record in it
/// decrypted straight into the stage's buffer. Ciphertext left over when that buffer is full (or a record
/// OpenSSL holds decrypted) is kept and the connection reported readable again in the next round.</para>
/// <para>Writing: what the writer gathered (up to 64 KiB a call) is encrypted at once into as few records
/// as OpenSSL makes (16 KiB each) and sent with one <c>send</c>. Ciphertext the socket does not take is kept; all but the
/// last plaintext byte is reported taken, so the writer waits for writability and calls again with that
/// byte, whose ciphertext is already kept: the stage's egress accounting and overflow policy stay exact.</para>
/// <para>Threads: <see cref="Receive"/> and the handshake on the service thread, <see cref="Send"/> under the
/// egress lock; OpenSSL's object is used by one of them at a time (<see cref="_sync"/>).</para>
/// </remarks>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class TlsSocketIo : IConnectionIo, IClientCertificateRefusal
{
    private const int ScratchBytes = 64 * 1024;

    /// <summary>
    /// The most plaintext one <see cref="Send"/> takes: ciphertext the socket does not take is kept outside
    /// the stage's egress buffer, so this bounds it (as the stream transport bounds one write).
    /// </summary>
    private const int MaxSendBytes = 64 * 1024;

    /// <summary>
    /// The most ciphertext kept unsent before a read fails the connection: a send's own (at most
    /// <see cref="MaxSendBytes"/> of plaintext, sealed) and as much again of answers to the client's records.
    /// </summary>
    private const int MaxKeptBytes = 2 * MaxSendBytes;

    /// <summary>The error code of a TLS failure after the handshake (a bad record, an alert).</summary>
    private const int RecordFailedError = IConnectionIo.HandshakeFailedError;

    [ThreadStatic]
    private static byte[]? t_receive;

    private readonly OpenSslServerTls _tls;
    private readonly TlsRecordWatch _records;
    private readonly Lock _sync = new();
    private TlsRecordSession? _session;
    private Phase _phase = Phase.Handshake;
    private TlsConnectionInfo? _info;
    private int _error;
    private string? _errorText;

    // ---- readiness ----
    private Reactor? _reactor;
    private long _token;
    private ReadyFlags _wanted;
    private ReadyFlags _watched;

    // ---- ciphertext received and not yet taken by OpenSSL (its buffer is full or the destination was) ----
    private byte* _leftover;
    private int _leftoverLength;

    /// <summary>The last read filled the stage's buffer and OpenSSL still holds plaintext of that record.</summary>
    private bool _mayHoldPlaintext;

    /// <summary>The last plaintext byte of a send whose ciphertext is kept: the writer hands it back on its next call.</summary>
    private bool _owedByte;

    /// <summary>The stage closes this connection with a reset: no close_notify goes ahead of it.</summary>
    private bool _abortive;

    // ---- PROXY header ahead of the handshake ----
    private ProxyProtocol _proxyAccepted;
    private bool _proxyScreen;
    private byte[]? _proxyHeader;
    private int _proxyLength;

    private enum Phase
    {
        /// <summary>A trusted proxy's header is read in the clear; the handshake waits for the stage to take it.</summary>
        ProxyHeader,
        Handshake,
        /// <summary>Done, not yet announced to the stage.</summary>
        Secured,
        Open,
        Failed,
        Closed,
    }

    private readonly System.Net.IPEndPoint _peer;
    /// <summary>The stage's lingering closes (the limit on the stage's clock, the bound).</summary>
    private readonly CloseLinger _linger;

    public TlsSocketIo(SocketHandle handle, OpenSslServerTls tls, System.Net.IPEndPoint peer, CloseLinger linger)
    {
        Handle = handle;
        _linger = linger;
        _tls = tls;
        _peer = peer;
        _records = new TlsRecordWatch(tls.Time);
    }

    /// <summary>The descriptor the reactor watches.</summary>
    public SocketHandle Handle { get; }

    public bool HasHandshake => true;

    public void ExpectProxyHeader(bool trusted, ProxyProtocol accepted)
    {
        _proxyAccepted = accepted;
        if (trusted)
        {
            _phase = Phase.ProxyHeader;
            _proxyHeader = new byte[ProxyHeaderParser.MaxBytes];
        }
        else
        {
            _proxyScreen = true;
        }
    }

    public void ProxyHeaderTaken()
    {
        lock (_sync)
        {
            if (_phase != Phase.ProxyHeader)
                return;
            _proxyHeader = null;
            _phase = Phase.Handshake;
        }
        // Bytes of the handshake may already wait behind the header: level-triggered readiness reports them.
    }

    // ---- readiness (called by the reactor) ----

    public int Watch(Reactor reactor, ReadyFlags interest, long token)
    {
        lock (_sync)
        {
            _reactor = reactor;
            _token = token;
            _wanted = interest;
            _watched = Effective();
            return reactor.Watch(Handle, _watched, token);
        }
    }

    public int Change(ReadyFlags interest)
    {
        lock (_sync)
        {
            _wanted = interest;
            return Rewatch();
        }
    }

    /// <summary>The stage's interest, except that nothing is written before the handshake ends, and kept ciphertext needs writability.</summary>
    /// <remarks>
    /// Once open, kept ciphertext is the writer's business (it holds back a byte, so it watches writability
    /// itself); a few bytes a read left to send (an answer to a key update) go with the next read or write.
    /// </remarks>
    private ReadyFlags Effective()
    {
        if (_phase is Phase.Open or Phase.Secured)
            return _wanted;
        return ReadyFlags.Readable | (_session is { OutLength: > 0 } ? ReadyFlags.Writable : ReadyFlags.None);
    }

    private int Rewatch()
    {
        var effective = Effective();
        if (effective == _watched || _reactor is null || _phase == Phase.Closed)
            return 0;
        _watched = effective;
        return _reactor.Change(Handle, effective, _token);
    }

    // ---- handshake (service thread) ----

    public bool TryCompleteHandshake(out TlsConnectionInfo? info)
    {
        info = null;
        lock (_sync)
        {
            if (_phase == Phase.Handshake)
                StepHandshake();
            if (_phase != Phase.Secured)
                return false;
            _phase = Phase.Open;
            info = _info;
            // Egress queued during the handshake (a session framing's greeting) may go now.
            Rewatch();
        }
        return true;
    }

    private void StepHandshake()
    {
        if (!FlushOutput())
        {
            // A flight the peer can no longer take (EPIPE, ECONNRESET): it reset after its hello. Waiting
            // for the recv below would never come to it; the socket stays writable-ready, so the loop would
            // resend into the dead socket every round until the handshake deadline. It fails now.
            FailIfSendFailed();
            return;
        }
        if (_proxyScreen && !ScreenProxyHeader())
            return;
        var scratch = ReceiveScratch();
        fixed (byte* p = scratch)
        {
            var n = ReceiveInto(p, scratch.Length, out var error);
            if (n == 0)
            {
                Fail(IConnectionIo.HandshakeFailedError, "tls handshake failed: the client closed the connection during the handshake");
                return;
            }
            if (n < 0)
            {
                if (error != 0)
                    Fail(IConnectionIo.HandshakeFailedError, "tls handshake failed: " + Libc.Describe(error));
                return;
            }
            _records.Observe(new ReadOnlySpan<byte>(p, n));
            var session = _session ?? CreateSession();
            if (session is null)
                return;
            session.Feed(p, n);
            var step = session.Handshake(out var failure);
            if (step == TlsRecordSession.Step.Failed)
            {
                // The alert OpenSSL wrote tells the client why; it goes out if the socket takes it.
                FlushOutput();
                session.Feed(null, 0);
                Fail(IConnectionIo.HandshakeFailedError, _tls.HandshakeFailure(session.Handle.Ssl, failure!, out _refusedCertificate));
                return;
            }
            // What came after the client's Finished (its first records) is kept for the first read.
            KeepLeftover();
            if (step == TlsRecordSession.Step.Done)
                Secure();
            if (!FlushOutput() && _phase == Phase.Handshake)
                FailIfSendFailed();
            Rewatch();
        }
    }

    /// <summary>A handshake flight whose send failed (not merely would-block) fails the handshake, as a failed recv does.</summary>
    private void FailIfSendFailed()
    {
        if (_error != 0)
            Fail(IConnectionIo.HandshakeFailedError, "tls handshake failed: " + _errorText);
    }

    private TlsRecordSession? CreateSession()
    {
        try
        {
            return _session = _tls.CreateSession();
        }
        catch (InvalidOperationException ex)
        {
            // OpenSSL could not make the object (out of memory): this connection fails, the stage goes on.
            Fail(IConnectionIo.HandshakeFailedError, "tls handshake failed: " + ex.Message);
            return null;
        }
    }

    /// <summary>An untrusted peer must not send a PROXY header: its first bytes are looked at without taking them.</summary>
    private bool ScreenProxyHeader()
    {
        var probe = stackalloc byte[16];
        var n = Libc.recv(Handle.Fd, probe, 16, Libc.MSG_PEEK);
        if (n <= 0)
            return true; // nothing yet, or the end: the handshake step reports it
        _proxyScreen = false;
        if (!ProxyHeaderParser.StartsWithSignature(new ReadOnlySpan<byte>(probe, (int)n)))
            return true;
        Fail(IConnectionIo.ProxyRefusedError, $"a PROXY header from {_peer.Address}, which is not in trusted_proxies");
        return false;
    }

    private void Secure()
    {
        var ssl = _session!.Handle.Ssl;
        try
        {
            var refused = _tls.CheckClient(ssl, out _refusedCertificate);
            if (refused is not null)
            {
                Fail(IConnectionIo.HandshakeFailedError, refused);
                return;
            }
            _info = OpenSslNegotiation.Describe(ssl);
            _phase = Phase.Secured;
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            // A client certificate OpenSSL took but .NET cannot read: this client is refused, the stage goes on.
            Fail(IConnectionIo.HandshakeFailedError, "tls handshake failed: the client certificate cannot be read: " + ex.Message);
        }
    }

    // ---- reading (service thread) ----

    public int Receive(Span<byte> buffer, out int error)
    {
        lock (_sync)
        {
            switch (_phase)
            {
                case Phase.Open:
                    return ReceiveRecords(buffer, out error);
                case Phase.ProxyHeader:
                    return ReceiveProxyHeader(buffer, out error);
                case Phase.Failed:
                    error = _error;
                    return -1;
                default:
                    error = 0;
                    return -1;
            }
        }
    }

    private int ReceiveRecords(Span<byte> buffer, out int error)
    {
        error = 0;
        var session = _session!;
        int plain;
        string? failure;
        FlushOutput();
        if (_leftoverLength > 0 || _mayHoldPlaintext && session.HasPlaintext)
        {
            // What the last read could not take first: plaintext OpenSSL holds, then kept ciphertext.
            session.Feed(_leftover, _leftoverLength);
            plain = session.Decrypt(buffer, out failure);
            var left = session.InLeft;
            if (left > 0 && left < _leftoverLength)
                Buffer.MemoryCopy(session.FedRemainder, _leftover, _leftoverLength, left);
            session.Feed(null, 0);
            _leftoverLength = left;
            if (left == 0 && _leftover is not null)
                FreeLeftover();
        }
        else
        {
            var scratch = ReceiveScratch();
            fixed (byte* p = scratch)
            {
                // No more ciphertext than the destination holds plaintext, so one recv is usually one decrypt pass.
                var n = ReceiveInto(p, Math.Min(scratch.Length, Math.Max(buffer.Length, 512)), out error);
                if (n <= 0)
                    return n;
                _records.Observe(new ReadOnlySpan<byte>(p, n));
                session.Feed(p, n);
                plain = session.Decrypt(buffer, out failure);
                KeepLeftover();
            }
        }
        // Records from the client that ask for an answer (a key update) leave ciphertext to send.
        if (!FlushOutput() && session.OutLength > MaxKeptBytes)
        {
            // Those answers wait here when the socket is full, outside the egress buffer and its overflow policy:
            // a client that keeps asking and reads nothing would grow them as fast as it sends.
            Fail(RecordFailedError, $"tls error: the client asks for TLS answers (key updates) and does not read them ({session.OutLength} bytes wait)");
            error = RecordFailedError;
            return -1;
        }
        // Only a read that filled the buffer can have left plaintext in OpenSSL.
        _mayHoldPlaintext = plain == buffer.Length && session.HasPlaintext;
        if (_leftoverLength > 0 || _mayHoldPlaintext)
            _reactor?.ReportAgain(_token);
        switch (plain)
        {
            case > 0:
                return plain;
            case 0:
                return -1; // a record still incomplete
            case -1:
                return 0; // close_notify: the client ended the session
            default:
                Fail(RecordFailedError, failure!);
                error = RecordFailedError;
                return -1;
        }
    }

    /// <summary>Exactly the PROXY header, in the clear, never a byte of the handshake behind it.</summary>
    private int ReceiveProxyHeader(Span<byte> buffer, out int error)
    {
        error = 0;
        var wanted = Math.Min(ProxyHeaderParser.BytesWanted(_proxyHeader.AsSpan(0, _proxyLength), _proxyAccepted), buffer.Length);
        if (wanted <= 0)
            return -1; // complete (or refused): the stage decides
        fixed (byte* p = buffer)
        {
            var n = ReceiveInto(p, wanted, out error);
            if (n > 0)
            {
                buffer[..n].CopyTo(_proxyHeader.AsSpan(_proxyLength));
                _proxyLength += n;
            }
            return n;
        }
    }

    /// <summary>Ciphertext OpenSSL did not take stays for the next read, in memory of the connection's own.</summary>
    private void KeepLeftover()
    {
        var session = _session!;
        var left = session.InLeft;
        if (left > 0)
        {
            var at = (byte*)NativeMemory.Realloc(_leftover, (nuint)(_leftoverLength + left));
            Unsafe.CopyBlockUnaligned(at + _leftoverLength, session.FedRemainder, (uint)left);
            _leftover = at;
            _leftoverLength += left;
        }
        session.Feed(null, 0);
    }

    private void FreeLeftover()
    {
        NativeMemory.Free(_leftover);
        _leftover = null;
        _leftoverLength = 0;
    }

    // ---- writing (under the egress lock) ----

    public int Send(ReadOnlySpan<byte> data, out int error)
    {
        lock (_sync)
        {
            error = 0;
            if (_phase == Phase.Failed)
            {
                // The session failed (a bad record, the peer's alert): the writer closes with the TLS error the read reports.
                error = _error;
                return -1;
            }
            if (_phase != Phase.Open || data.IsEmpty)
                return 0;
            if (!FlushOutput())
                return _error != 0 ? Fail(out error) : 0;
            var skip = 0;
            if (_owedByte)
            {
                // Its ciphertext has just gone out.
                _owedByte = false;
                skip = 1;
                if (data.Length == 1)
                    return 1;
            }
            var take = Math.Min(data.Length, skip + MaxSendBytes);
            if (!_session!.Encrypt(data[skip..take], out var failure))
            {
                Fail(RecordFailedError, failure!, onServiceThread: false);
                error = RecordFailedError;
                return -1;
            }
            if (FlushOutput())
                return take;
            if (_error != 0)
                return Fail(out error);
            // Kept ciphertext: the writer must come back, so the last byte is not reported taken.
            _owedByte = true;
            return take - 1;
        }
    }

    private int Fail(out int error)
    {
        error = _error;
        return -1;
    }

    /// <summary>Sends the ciphertext OpenSSL produced; true when none is left. A failure is recorded in <see cref="_error"/>.</summary>
    private bool FlushOutput()
    {
        var session = _session;
        if (session is null || session.OutLength == 0)
            return true;
        var output = session.Output;
        var sent = 0;
        while (sent < output.Length)
        {
            nint n;
            fixed (byte* p = output)
                n = Libc.send(Handle.Fd, p + sent, output.Length - sent, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT);
            if (n >= 0)
            {
                sent += (int)n;
                continue;
            }
            var errno = Libc.LastError;
            if (errno == Libc.EINTR)
                continue;
            if (errno != Libc.EAGAIN)
            {
                _error = errno;
                _errorText = Libc.Describe(errno);
            }
            break;
        }
        session.Consumed(sent);
        var done = session.OutLength == 0;
        if (!done)
            Rewatch();
        return done;
    }

    public bool HoldsPartialRecord(out long sinceTimestamp) => _records.HoldsPartialRecord(out sinceTimestamp);

    /// <summary>The byte reported not taken while its ciphertext waits (<see cref="_owedByte"/>): the close sends it (<see cref="Dispose"/>).</summary>
    public int SentWithClose
    {
        get
        {
            lock (_sync)
                return _owedByte && _phase == Phase.Open && !_abortive && _error == 0 && _session is not null ? 1 : 0;
        }
    }

    public bool WaitWritable(int timeoutMs) => Libc.WaitWritable(Handle.Fd, timeoutMs);

    public void SetAbortiveClose()
    {
        _abortive = true;
        SocketConfigurator.SetAbortiveClose(Handle.Fd);
    }

    private bool _disposed;

    /// <summary>The client certificate the handshake refused (service thread only).</summary>
    private RefusedClientCertificate? _refusedCertificate;

    /// <inheritdoc/>
    public RefusedClientCertificate? RefusedClientCertificate => _refusedCertificate;

    public string DescribeError(int error)
        => error is IConnectionIo.HandshakeFailedError or IConnectionIo.ProxyRefusedError ? _errorText ?? "tls error" : Libc.Describe(error);

    // ---- helpers ----

    private static byte[] ReceiveScratch() => t_receive ??= GC.AllocateUninitializedArray<byte>(ScratchBytes, pinned: true);

    private int ReceiveInto(byte* into, int length, out int error) => SocketIo.Receive(Handle.Fd, into, length, out error);

    private void Fail(int error, string text, bool onServiceThread = true)
    {
        _phase = Phase.Failed;
        _error = error;
        _errorText = text;
        // The stage learns it from the next read: make sure there is one (a failed send is reported by the writer).
        if (onServiceThread)
            _reactor?.ReportAgain(_token);
    }

    public void Dispose()
    {
        lock (_sync)
        {
            // TLS has each side send close_notify before it closes (RFC 8446, 6.1; 5246, 7.2.1): without it an OpenSSL 3
            // client reads the stage's close as "unexpected EOF", which it cannot tell from a truncation. Once, on a session
            // in service that did not fail (no alert was sent) and is not being reset; never waits (a full socket loses it).
            // What the session still owes (ciphertext the socket did not take, then the close_notify) is sent before the
            // FIN by LingeringClose, which also keeps the peer's unread bytes from turning the close into a reset.
            // Once: a second close must not close a descriptor the lingering close still owns (or one reused since).
            if (_disposed)
                return;
            _disposed = true;
            var open = _phase == Phase.Open;
            _phase = Phase.Closed;
            byte[]? owed = null;
            if (open && !_abortive && _error == 0 && _session is { } session)
            {
                session.CloseNotify();
                owed = session.Output.ToArray();
                session.Consumed(owed.Length);
            }
            _session?.Dispose();
            _session = null;
            if (_leftover is not null)
                FreeLeftover();
            if (owed is null)
            {
                Handle.Dispose();
                return;
            }
            LingeringClose.Finish(Handle, owed, _linger);
        }
    }
}
