using System.Reflection;
using Ferry.Stages;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// Options records are logged, shown in debuggers and printed by failing assertions. The compiler's record printer put a
/// private key's PEM and a PKCS#12 password there in clear, nested in the stage options' <c>Tls</c> block.
/// </summary>
public sealed class OptionsSecretsTests
{
    private const string Key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-the-secret-key\n-----END PRIVATE KEY-----";
    private const string Password = "hunter2-the-secret-password";

    private static TlsOptions Tls() => new()
    {
        Secure = true,
        Certificate = new TlsCertificate { CertificatePem = "-----BEGIN CERTIFICATE-----public-----END CERTIFICATE-----", PrivateKeyPem = Key },
        SniCertificates = new Dictionary<string, TlsCertificate> { ["api.example"] = new() { Pkcs12File = "/etc/api.p12", Pkcs12Password = Password } },
    };

    [Fact]
    public void A_server_stage_options_string_names_the_secrets_without_their_values()
    {
        var text = new TcpServerStageOptions { Name = "front", Tls = Tls() }.ToString();

        // Before: the key's PEM, whole, inside "Tls = TlsOptions { ... Certificate = TlsCertificate { ... PrivateKeyPem = -----BEGIN ...".
        Assert.DoesNotContain("the-secret-key", text);
        Assert.DoesNotContain("BEGIN PRIVATE KEY", text);
        Assert.Contains("PrivateKeyPem = <redacted>", text);
        Assert.Contains("Name = front", text);
        Assert.Contains("CertificatePem = -----BEGIN CERTIFICATE-----public-----END CERTIFICATE-----", text);
    }

    [Fact]
    public void A_client_stage_options_string_names_the_password_without_its_value()
    {
        var certificate = new TlsCertificate { Pkcs12File = "/etc/client.p12", Pkcs12Password = Password };
        var text = new TcpClientStageOptions { Tls = new TlsOptions { Secure = true, Certificate = certificate } }.ToString();

        Assert.DoesNotContain(Password, text);
        Assert.Contains("Pkcs12Password = <redacted>", text);
        Assert.Contains("Pkcs12File = /etc/client.p12", text);
        // Neither is a secret from the options it sits in: the SNI certificates print as their dictionary's type only.
        Assert.DoesNotContain(Password, Tls().ToString());
        Assert.DoesNotContain("the-secret-key", Tls().ToString());
    }

    [Fact]
    public void An_unset_secret_prints_as_null_and_every_member_is_still_printed()
    {
        var text = new TlsCertificate { CertificateFile = "/etc/cert.pem", PrivateKeyFile = "/etc/key.pem" }.ToString();

        Assert.Contains("PrivateKeyPem = null", text);
        Assert.Contains("Pkcs12Password = null", text);
        Assert.Contains("PrivateKeyFile = /etc/key.pem", text);
        // A member added later must be added to the hand-written printer too (it would otherwise vanish from the string).
        foreach (var property in typeof(TlsCertificate).GetProperties(BindingFlags.Public | BindingFlags.Instance))
            Assert.Contains(property.Name + " = ", text);
    }
}
