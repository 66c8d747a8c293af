using Ferry.Cli.Pipeline;
using Ferry.Hosting.Settings;
using Ferry.Stages;

namespace Ferry.Tests.Cli;

/// <summary>
/// What only building a stage finds is told at the key it names; a key the file does not set is told at the nearest block holding
/// it, by its name in the file's spelling. The fallback used to drop the name (<c>stages[0].config.tls: a TLS server needs …</c>, which
/// setting?), took a key that merely began like it (the CRL file for <c>certificate</c>), and put a stage's own key (<c>transport</c>)
/// at its tls block. No file reaches these today (reading the file checks them first), so the placing is called directly.
/// </summary>
public sealed class WordsPreflightFallbackTests
{
    private static (ConfigNode Stage, ConfigNode Tls) Stage(bool pascal, params (string Key, string Value)[] tlsKeys)
    {
        string K(string snake) => pascal ? string.Concat(snake.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..])) : snake;
        var path = pascal ? "Stages[0]" : "stages[0]";
        var stage = new ConfigNode("", path, "f.yaml:2:5", ConfigNodeKind.Mapping);
        stage.Add(new ConfigNode(K("name"), $"{path}.{K("name")}", "f.yaml:2:7", ConfigNodeKind.Scalar, "s"));
        var config = new ConfigNode(K("config"), $"{path}.{K("config")}", "f.yaml:4:5", ConfigNodeKind.Mapping);
        stage.Add(config);
        config.Add(new ConfigNode(K("bind"), $"{config.Path}.{K("bind")}", "f.yaml:5:7", ConfigNodeKind.Scalar, "127.0.0.1:0"));
        var tls = new ConfigNode(K("tls"), $"{config.Path}.{K("tls")}", "f.yaml:6:7", ConfigNodeKind.Mapping);
        config.Add(tls);
        var line = 7;
        foreach (var (key, value) in tlsKeys)
            tls.Add(new ConfigNode(K(key), $"{tls.Path}.{K(key)}", $"f.yaml:{line++}:9", ConfigNodeKind.Scalar, value));
        return (stage, tls);
    }

    private static string Placed(ConfigNode stage, string problem)
    {
        var problems = new List<SettingProblem>();
        StagePreflight.Add(stage, problem, problems);
        return Assert.Single(problems).ToString();
    }

    [Fact]
    public void A_tls_key_the_block_does_not_set_is_named_at_the_tls_block()
    {
        // Before: "f.yaml:7:9: stages[0].config.tls.certificate_revocation_list_file: 'crl.pem' a TLS server needs …" (a key that began like it).
        var (stage, _) = Stage(pascal: false, ("secure", "true"), ("certificate_revocation_list_file", "crl.pem"));
        Assert.Equal("f.yaml:6:7: stages[0].config.tls: certificate: a TLS server needs a certificate and private key",
            Placed(stage, "option 'tls.certificate': a TLS server needs a certificate and private key"));
    }

    [Fact]
    public void A_tls_key_is_named_in_a_pascal_case_files_spelling()
    {
        // Before: "f.yaml:6:7: Stages[0].Config.Tls: needs the CA bundle …" (which setting?).
        var (stage, _) = Stage(pascal: true, ("secure", "true"));
        // The other keys it names too: before, in snake_case (tls.ca_certificate_pem) in a PascalCase file.
        Assert.Equal("f.yaml:6:7: Stages[0].Config.Tls: CertificateRevocationList: needs the CA bundle (Tls.CaCertificatePem or Tls.CaCertificateFile) whose CRL it is",
            Placed(stage, $"option 'tls.certificate_revocation_list': needs the CA bundle ({StageOptionsException.Mark("tls.ca_certificate_pem")} or "
                + $"{StageOptionsException.Mark("tls.ca_certificate_file")}) whose CRL it is"));
    }

    [Fact]
    public void A_stage_key_the_file_does_not_set_is_named_at_the_stage_not_its_tls_block()
    {
        // Before: "f.yaml:6:7: stages[0].config.tls: TLS on epoll needs OpenSSL 3 …".
        var (stage, _) = Stage(pascal: false, ("secure", "true"));
        Assert.Equal("f.yaml:2:5: stages[0]: transport: TLS on epoll needs OpenSSL 3 (libssl.so.3), which cannot be loaded here; use stream (or auto) with 'tls'",
            Placed(stage, "option 'transport': TLS on epoll needs OpenSSL 3 (libssl.so.3), which cannot be loaded here; use stream (or auto) with 'tls'"));
    }

    [Fact]
    public void A_key_the_file_sets_is_told_at_it_with_its_value_as_before()
    {
        var (stage, _) = Stage(pascal: false, ("secure", "true"), ("certificate_revocation_list_file", "crl.pem"));
        Assert.Equal("f.yaml:8:9: stages[0].config.tls.certificate_revocation_list_file: 'crl.pem' is not a CRL",
            Placed(stage, "option 'tls.certificate_revocation_list': is not a CRL"));
        Assert.Equal("f.yaml:6:7: stages[0].config.tls: the stage cannot be built", Placed(stage, "the stage cannot be built"));
    }
}
