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
/// intermediates gets tickets without them (its resumption then fails as <c>untrusted (PartialChain)</c>): tickets
/// stay small, and no honest chain is that long.
/// </remarks>
internal static unsafe class TicketIntermediates
{
    /// <summary>The most intermediates' bytes a ticket carries.</summary>
    public const int MaxBytes = 16 * 1024;

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
        // No decrypt callback: OpenSSL's own handling of the ticket it decrypted applies.
        SSL_CTX_set_session_ticket_cb(context, (nint)(delegate* unmanaged<nint, nint, int>)&OnTicket, 0, 0);
    }

    /// <summary>The intermediates the ticket of the session <paramref name="ssl"/> resumed carries, as DER certificates.</summary>
    public static List<byte[]> Read(nint ssl)
    {
        var found = new List<byte[]>();
        var session = SSL_get_session(ssl);
        byte* data;
        nuint length;
        if (session == 0 || SSL_SESSION_get0_ticket_appdata(session, &data, &length) != 1 || data == null)
            return found;
        // Each certificate as its length (4 bytes, little-endian) and its DER bytes; written by OnTicket only.
        var span = new ReadOnlySpan<byte>(data, checked((int)length));
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
                return;
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
