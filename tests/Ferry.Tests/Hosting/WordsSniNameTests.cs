using Ferry.Stages;

namespace Ferry.Tests.Hosting;

/// <summary>
/// A certificate of <c>SniCertificates</c> is told by the server name the developer wrote, as the dictionary's key it is
/// (<c>Tls.SniCertificates["example.com"]</c>): the property wording capitalised every dotted part, the name's too
/// (<c>Tls.SniCertificates.Example.Com</c>), which names neither a property nor the name.
/// </summary>
public sealed class WordsSniNameTests
{
    private static readonly TlsCertificate Pem = new() { CertificatePem = "x", PrivateKeyPem = "y" };

    [Fact]
    public void An_sni_certificates_problem_names_the_server_name_as_written()
    {
        // Before: "TcpServerStageOptions.Tls.SniCertificates.Api.Example.Com: give the private key as PrivateKeyPem or PrivateKeyFile (one of them)".
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions
        {
            Name = "pos", Bind = "127.0.0.1:0",
            Tls = new TlsOptions
            {
                Secure = true, Certificate = Pem,
                SniCertificates = new Dictionary<string, TlsCertificate>
                {
                    ["api.example.com"] = new() { CertificateFile = "api.pem" },
                    ["*.my_zone.example"] = new() { Pkcs12File = "z.p12", CertificatePem = "x" },
                },
            },
        }.Validate());
        Assert.Equal(
        [
            "TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"]: give the private key as PrivateKeyPem or PrivateKeyFile (one of them)",
            "TcpServerStageOptions.Tls.SniCertificates[\"*.my_zone.example\"]: give a Pkcs12File or PEM certificate and key, not both",
        ], error.Problems);
    }

    [Theory]
    [InlineData("tls.sni_certificates.example.com", "Tls.SniCertificates[\"example.com\"]")]
    [InlineData("tls.sni_certificates.Example.com.certificate_file", "Tls.SniCertificates[\"Example.com\"].CertificateFile")]
    [InlineData("tls.sni_certificates", "Tls.SniCertificates")]
    [InlineData("tls.certificate.certificate_file", "Tls.Certificate.CertificateFile")]
    public void The_property_path_keeps_a_server_name_as_written(string key, string property)
        => Assert.Equal(property, StageOptionsException.Property(key));
}
