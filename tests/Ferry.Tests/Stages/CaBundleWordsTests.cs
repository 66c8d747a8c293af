using Ferry.Stages;

namespace Ferry.Tests.Stages;

/// <summary>
/// A CA bundle the stage cannot use is told at the option the caller set: a developer who gave <c>CaCertificateFile</c> is told
/// that property and the file's path, not <c>CaCertificatePem</c>, which they never wrote.
/// </summary>
public sealed class CaBundleWordsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-ca-words-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_ca_file_without_certificates_is_told_by_the_file_property_and_its_path()
    {
        var file = Path.Combine(_dir, "ca.pem");
        File.WriteAllText(file, "this is no certificate\n");
        var error = Assert.Throws<StageOptionsException>(() => new TcpClientStage(new TcpClientStageOptions
        {
            Name = "upstream",
            Connect = "127.0.0.1:1",
            Tls = new TlsOptions { Secure = true, CaCertificateFile = file },
        }));
        Assert.Equal($"TcpClientStageOptions.Tls.CaCertificateFile: no '-----BEGIN CERTIFICATE-----' block found in '{file}'", Assert.Single(error.Problems));
    }

    [Fact]
    public void Ca_text_without_certificates_is_told_by_the_pem_property()
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpClientStage(new TcpClientStageOptions
        {
            Name = "upstream",
            Connect = "127.0.0.1:1",
            Tls = new TlsOptions { Secure = true, CaCertificatePem = "this is no certificate\n" },
        }));
        Assert.Equal("TcpClientStageOptions.Tls.CaCertificatePem: no '-----BEGIN CERTIFICATE-----' block found in the PEM text", Assert.Single(error.Problems));
    }
}
