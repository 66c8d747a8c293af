using System.Runtime.InteropServices;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// Session resumption with client certificates: the intermediates a client sent in its full handshake travel in
/// the session tickets the server issues, so that a resumed session is checked exactly as the full handshake was.
/// </summary>
/// <remarks>
/// On a resumed session the client sends no certificates and OpenSSL restores only the client's own certificate
/// from the ticket, not the chain it came with: a client whose certificate is signed by an intermediate would be
/// refused as <c>untrusted (PartialChain)</c> when it resumes. The ticket (encrypted and authenticated with the
/// context's own key, which never leaves the process) carries them as application data instead. They are only
/// material for building the chain, as when the client sends them: every resumption is checked again in full
/// (the CA bundle, the time, the CRL), so a certificate that expired since the full handshake is refused, and
/// nothing the full handshake judged is trusted blindly. A client that sends more than <see cref="MaxBytes"/> of
/// intermediates (tickets stay small) gets tickets marked as not resumable: it makes a full handshake each time,
/// with the chain it sends then, instead of resuming into a check that lacks its chain.
/// </remarks>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe class TicketIntermediates
{
    /// <summary>The most intermediates' bytes a ticket carries.</summary>
    public const int MaxBytes = 16 * 1024;

    // The ticket's data when the chain was over MaxBytes: a length no certificate has (four 0xFF bytes in any byte order).
    private const int ChainTooLarge = -1;

    // OpenSSL's SSL_TICKET_STATUS and SSL_TICKET_RETURN values (ssl.h).
    private const int TicketSuccess = 5, TicketSuccessRenew = 6;
    private const int ReturnIgnoreRenew = 2, ReturnUse = 3, ReturnUseRenew = 4;

    /// <summary>
    /// Lets <paramref name="context"/> resume sessions of clients that showed certificates: OpenSSL refuses to
    /// resume such a session (a fatal "session id context uninitialized") unless the context names the sessions it
    /// made, and the tickets it issues carry the client's intermediates.
    /// </summary>
    public static void Enable(nint context)
    {
        // The same name on every context: SNI moves a connection to another context of the stage, and tickets from
        // other stages or an older certificate's context do not decrypt with this one's key anyway.
        var name = "ferry"u8;
        fixed (byte* p = name)
            if (SSL_CTX_set_session_id_context(context, p, (uint)name.Length) != 1)
                throw new InvalidOperationException("OpenSSL: SSL_CTX_set_session_id_context failed: " + TakeErrors());
        SSL_CTX_set_session_ticket_cb(context, (nint)(delegate* unmanaged<nint, nint, int>)&OnTicket,
            (nint)(delegate* unmanaged<nint, nint, byte*, nuint, int, nint, int>)&OnTicketDecrypted, 0);
    }

    /// <summary>The intermediates the ticket of the session <paramref name="ssl"/> resumed carries, as DER certificates.</summary>
    public static List<byte[]> Read(nint ssl)
    {
        var found = new List<byte[]>();
        var span = AppData(SSL_get_session(ssl));
        // Each certificate as its length (4 bytes, little-endian) and its DER bytes; written by OnTicket only.
        while (span.Length >= sizeof(int))
        {
            var size = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(span);
            if (size <= 0 || size > span.Length - sizeof(int))
                break;
            found.Add(span.Slice(sizeof(int), size).ToArray());
            span = span[(sizeof(int) + size)..];
        }
        return found;
    }

    /// <summary>
    /// OpenSSL is about to seal a ticket for the connection's session: the chain the client sent goes in with it. On a
    /// resumed session the client sent none, and the session (a copy of the one it resumed) keeps what its ticket held.
    /// </summary>
    [UnmanagedCallersOnly]
    private static int OnTicket(nint ssl, nint arg)
    {
        try
        {
            Seal(ssl);
        }
        catch (Exception)
        {
            // Nothing may escape into OpenSSL. The ticket goes without the chain: its resumption is judged on what it holds.
        }
        return 1;
    }

    /// <summary>
    /// OpenSSL decrypted a ticket a client offers: a ticket sealed without the client's chain (it was too large) is
    /// not resumed, so the client makes a full handshake and is checked with the chain it sends then. Every other
    /// outcome is what OpenSSL does without this callback.
    /// </summary>
    [UnmanagedCallersOnly]
    private static int OnTicketDecrypted(nint ssl, nint session, byte* keyName, nuint keyNameLength, int status, nint arg)
    {
        if (status != TicketSuccess && status != TicketSuccessRenew)
            return ReturnIgnoreRenew; // none, empty or undecryptable: a full handshake and a fresh ticket, as by default
        var data = AppData(session);
        if (data.Length == sizeof(int) && System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data) == ChainTooLarge)
            return ReturnIgnoreRenew;
        return status == TicketSuccess ? ReturnUse : ReturnUseRenew;
    }

    private static ReadOnlySpan<byte> AppData(nint session)
    {
        byte* data;
        nuint length;
        if (session == 0 || SSL_SESSION_get0_ticket_appdata(session, &data, &length) != 1 || data == null)
            return default;
        return new ReadOnlySpan<byte>(data, checked((int)length));
    }

    private static void Seal(nint ssl)
    {
        var stack = SSL_get_peer_cert_chain(ssl);
        var count = stack == 0 ? 0 : OPENSSL_sk_num(stack);
        if (count <= 0)
            return;
        var total = 0;
        for (var i = 0; i < count; i++)
        {
            var size = i2d_X509(OPENSSL_sk_value(stack, i), null);
            if (size <= 0)
                return;
            total += sizeof(int) + size;
            if (total > MaxBytes)
            {
                var marker = ChainTooLarge;
                SSL_SESSION_set1_ticket_appdata(SSL_get_session(ssl), (byte*)&marker, sizeof(int));
                return;
            }
        }
        var buffer = (byte*)NativeMemory.Alloc((nuint)total);
        try
        {
            var cursor = buffer;
            for (var i = 0; i < count; i++)
            {
                var x509 = OPENSSL_sk_value(stack, i);
                var size = i2d_X509(x509, null);
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(cursor, sizeof(int)), size);
                cursor += sizeof(int);
                i2d_X509(x509, &cursor);
            }
            // OpenSSL keeps a copy of its own.
            SSL_SESSION_set1_ticket_appdata(SSL_get_session(ssl), buffer, (nuint)total);
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }
}
