using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Transport.Streams;

namespace Ferry.Transport.Tls;

/// <summary>What the server and client handshakes share: running one, and describing its outcome.</summary>
internal static class TlsNegotiation
{
    /// <summary>
    /// Runs <paramref name="authenticate"/> on <paramref name="ssl"/>. A failure caused by Ferry's own
    /// certificate check (<paramref name="refused"/> gives its reason, given the failure) becomes a
    /// <see cref="TlsRejectedException"/> with that reason (and the client certificate <paramref name="certificate"/> says was refused); any failure disposes the stream. A finished handshake gives back the buffers it used (<see cref="TlsIdleMemory"/>).
    /// </summary>
    public static async Task RunAsync(SslStream ssl, Func<Task> authenticate, Func<AuthenticationException, string?> refused,
        Func<RefusedClientCertificate?>? certificate = null)
    {
        try
        {
            await authenticate().ConfigureAwait(false);
            await TlsIdleMemory.TrimAsync(ssl).ConfigureAwait(false);
        }
        catch (AuthenticationException ex) when (refused(ex) is { } reason)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new TlsRejectedException(reason, ex, certificate?.Invoke());
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>What the handshake negotiated, for the connected event. Releases the peer's certificate once it is described.</summary>
    /// <remarks>
    /// Reading <see cref="SslStream.RemoteCertificate"/> hands the certificate to the reader: the stream no longer disposes
    /// it when it closes. Left alone, every TLS connection with a peer certificate (each of a client stage's, a server's under
    /// mutual TLS) kept its native OpenSSL certificate until a garbage collection ran the finalizer, which on a quiet process
    /// may be long after thousands of connections came and went. Only the subject, the thumbprint and the certificate's bytes
    /// (for <see cref="TlsConnectionInfo.GetRemoteCertificate"/>, which loads a new one each time) are kept.
    /// </remarks>
    public static TlsConnectionInfo Describe(SslStream ssl, string? serverName)
    {
        using var remote = ssl.RemoteCertificate;
        var peer = remote as X509Certificate2;
        var alpn = ssl.NegotiatedApplicationProtocol;
        return new TlsConnectionInfo(ssl.SslProtocol.ToString(), ssl.NegotiatedCipherSuite.ToString(), serverName, peer?.Subject, peer?.Thumbprint,
            alpn.Protocol.IsEmpty ? null : alpn.ToString())
        {
            RemoteCertificateDer = remote is null ? null : new TlsConnectionInfo.PeerCertificateBytes(remote.GetRawCertData()),
        };
    }
}
