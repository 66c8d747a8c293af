using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Testing;

/// <summary>Turns <see cref="TestClientTls"/> into .NET's client authentication options.</summary>
internal static class TlsTrust
{
    public static SslClientAuthenticationOptions ClientOptions(TestClientTls tls) => new()
    {
        TargetHost = tls.ServerName,
        EnabledSslProtocols = tls.Protocols,
        ClientCertificates = tls.ClientCertificate is null ? null : [tls.ClientCertificate],
        ApplicationProtocols = tls.ApplicationProtocols?.Select(p => new SslApplicationProtocol(p)).ToList(),
        RemoteCertificateValidationCallback = tls.AcceptAnyServerCertificate
            ? (_, _, _, _) => true
            : tls.TrustedAuthority is { } authority ? (_, certificate, _, errors) => ChainsTo(authority, certificate, errors) : null,
    };

    /// <summary>
    /// The certificate's name and dates are fine (the only error allowed is the chain, which the machine
    /// cannot build to a CA it does not know) and it chains to <paramref name="authority"/>.
    /// </summary>
    private static bool ChainsTo(X509Certificate2 authority, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }
}
