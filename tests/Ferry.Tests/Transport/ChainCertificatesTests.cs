using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Ferry.Tests.Support;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Transport;

/// <summary>
/// A client certificate check builds a chain per handshake: the chain's element certificates and the intermediates a
/// client sent are native certificates that nothing but the check can release (the soak of the TLS transports left them to
/// the finalizer). The caller's own certificate must survive the check.
/// </summary>
public sealed class ChainCertificatesTests
{
    [Fact]
    public void Releasing_a_built_chain_disposes_each_element_certificate_not_the_certificate_it_was_built_for()
    {
        using var leaf = X509CertificateLoader.LoadCertificate(TestCertificates.Client.RawData);
        using var chain = TrustingAuthority();
        Assert.True(chain.Build(leaf));
        var elements = chain.ChainElements.Select(e => e.Certificate).ToList();
        Assert.Equal(2, elements.Count);
        Assert.All(elements, c => Assert.NotEqual(IntPtr.Zero, c.Handle));

        ChainCertificates.ReleaseElements(chain);

        Assert.All(elements, c => Assert.Equal(IntPtr.Zero, c.Handle));
        Assert.NotEqual(IntPtr.Zero, leaf.Handle);
    }

    [Fact]
    public void Releasing_a_collection_disposes_and_removes_what_it_holds()
    {
        var held = X509CertificateLoader.LoadCertificate(TestCertificates.Authority.RawData);
        var collection = new X509Certificate2Collection { held };

        ChainCertificates.Release(collection);

        Assert.Empty(collection);
        Assert.Equal(IntPtr.Zero, held.Handle);
    }

    [Fact]
    public void A_check_against_a_CA_bundle_leaves_the_callers_certificate_and_chain_usable()
    {
        var check = new PeerCertificateCheck([TestCertificates.Authority], TimeProvider.System);
        using var peer = X509CertificateLoader.LoadCertificate(TestCertificates.Client.RawData);
        using var callers = TrustingAuthority();
        callers.Build(peer);

        Assert.Null(check.Check(peer, callers, SslPolicyErrors.None, required: true, checkName: false));
        // A plain X509Certificate (what a validation callback may be handed) takes the check's own copy path; only the
        // obsolete constructor makes one.
#pragma warning disable SYSLIB0057
        using var plain = new X509Certificate(peer.RawData);
#pragma warning restore SYSLIB0057
        Assert.Null(check.Check(plain, callers, SslPolicyErrors.None, required: true, checkName: false));
        Assert.Equal("untrusted (UntrustedRoot)", check.Check(TestCertificates.ClientOfOtherAuthority, null, SslPolicyErrors.None, required: true, checkName: false)?.Replace("PartialChain", "UntrustedRoot"));

        Assert.NotEqual(IntPtr.Zero, peer.Handle);
        Assert.All(callers.ChainElements.Select(e => e.Certificate), c => Assert.NotEqual(IntPtr.Zero, c.Handle));
        ChainCertificates.ReleaseElements(callers);
    }

    private static X509Chain TrustingAuthority()
    {
        var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(TestCertificates.Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain;
    }
}
