using System.Security.Cryptography.X509Certificates;

namespace Ferry.Transport.Tls;

/// <summary>
/// Releases the certificates a chain check made. <see cref="X509Chain.Dispose()"/> frees the chain but not the
/// <see cref="X509ChainElement.Certificate"/> objects it built, and a collection never disposes what it holds: each is a
/// native OpenSSL certificate that would otherwise wait for the finalizer, one set per client certificate checked.
/// </summary>
internal static class ChainCertificates
{
    /// <summary>Disposes every element certificate of <paramref name="chain"/> (built or not); the chain itself stays the caller's.</summary>
    public static void ReleaseElements(X509Chain chain)
    {
        foreach (var element in chain.ChainElements)
            element.Certificate.Dispose();
    }

    /// <summary>Disposes every certificate in <paramref name="certificates"/> and empties it.</summary>
    public static void Release(X509Certificate2Collection certificates)
    {
        foreach (var certificate in certificates)
            certificate.Dispose();
        certificates.Clear();
    }
}
