using Ferry.Nats;
using Ferry.Stages;
using Ferry.Transport;

namespace Ferry.Tests.Hosting;

/// <summary>
/// A problem names other options by a mark no user can type (<see cref="StageOptionsException.Mark"/>), so what the user wrote is
/// quoted as written wherever it stands in the message. The mark was <c>{key}</c>: braces in a value were read as a key and said in
/// the reader's words (a path's <c>{host}</c> as <c>Host</c>) unless the value was the first thing after the option's name.
/// </summary>
public sealed class WordsKeyMarkTests
{
    private const string CertPath = "/nonexistent-ferry/{host}/server.pem";

    [Fact]
    public void A_path_with_braces_quoted_after_the_problem_is_said_as_written_to_code()
    {
        // Before: "TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read '/nonexistent-ferry/Host/server.pem': …".
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
        {
            Name = "pos", Bind = "127.0.0.1:0",
            Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = CertPath, PrivateKeyFile = "/nonexistent-ferry/server.key" } },
        }, new Ferry.Bus.InProcessBus()));
        var problem = error.Problems[0];
        Assert.StartsWith($"TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read '{CertPath}'", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("Host", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stage_named_like_a_nats_option_in_braces_keeps_its_braces()
    {
        // Before: "stage name 'url' cannot be a NATS subject token; …": {url} was read as the option's mark.
        var error = Assert.Throws<NatsOptionsException>(() => new NatsGatewayOptions().Validate("{url}"));
        Assert.Contains("stage name '{url}' cannot be a NATS subject token; use letters, digits, '-' and '_' only", error.Problems);
        Assert.DoesNotContain(error.Problems, p => p.Contains("'url'", StringComparison.Ordinal));
    }

    [Fact]
    public void Marked_keys_are_still_said_in_each_readers_words_and_braces_beside_them_are_not()
    {
        var marked = $"option 'bind_retry_delay': '{{bind_retry_max_delay}}' is longer than {StageOptionsException.Mark("bind_retry_max_delay")} '{{x}}'";
        Assert.Equal("option 'bind_retry_delay': '{bind_retry_max_delay}' is longer than BindRetryMaxDelay '{x}'",
            StageOptionsException.SayKeys(marked, StageOptionsException.Property));
        Assert.Equal("TcpServerStageOptions.BindRetryDelay: '{bind_retry_max_delay}' is longer than BindRetryMaxDelay '{x}'",
            StageOptionsException.ForCode(marked, nameof(TcpServerStageOptions)));
    }
}
