using Ferry.Stages;

namespace Ferry.Tests.Stages;

/// <summary>A server stage's option problems say durations as they are written (30s, 500ms), not as TimeSpan text (00:00:30).</summary>
public sealed class ServerStageOptionsTests
{
    private static string Problem(TcpServerStageOptions options) => Assert.Single(Assert.Throws<StageOptionsException>(options.Validate).Problems);

    [Fact]
    public async Task A_stage_keeps_its_own_copy_of_the_lists_it_was_given()
    {
        // Before: an affinity list changed after construction was applied at start unvalidated ("[999] could not be applied"),
        // and a changed AllowFrom showed in Options while the stage kept the old one.
        var affinity = new List<int>();
        var allow = new List<string> { "127.0.0.0/8" };
        var alpn = new List<string> { "ferry" };
        await using var server = new TcpServerStage(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0", ThreadProcessorAffinity = affinity, AllowFrom = allow,
            Tls = new TlsOptions { Secure = true, Certificate = Support.TestCertificates.ServerCertificate, ApplicationProtocols = alpn },
        });
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = "127.0.0.1:1", ThreadProcessorAffinity = affinity });
        affinity.Add(999);
        allow[0] = "10.0.0.0/8";
        alpn.Add("h2");

        Assert.Empty(server.Options.ThreadProcessorAffinity);
        Assert.Empty(client.Options.ThreadProcessorAffinity);
        Assert.Equal(["127.0.0.0/8"], server.Options.AllowFrom!);
        Assert.Equal(["ferry"], server.Options.Tls!.ApplicationProtocols!);
        server.Options.Validate();
        var errors = new List<StageErrorEvent>();
        server.Error += (_, e) => errors.Add(e);
        await server.StartAsync();
        Assert.DoesNotContain(errors, e => e.Kind == StageErrorKind.Setup);
    }

    [Fact]
    public void Durations_are_said_as_written()
    {
        Assert.Equal("TcpServerStageOptions.ConnectionRateWindow: 0 is not allowed; must be positive, e.g. 1s",
            Problem(new TcpServerStageOptions { ConnectionRateWindow = TimeSpan.Zero }));
        Assert.Equal("TcpServerStageOptions.EgressWaitTimeout: -5s is not allowed; must be positive, e.g. 5s",
            Problem(new TcpServerStageOptions { EgressWaitTimeout = TimeSpan.FromSeconds(-5) }));
        Assert.Equal("TcpServerStageOptions.StopGracePeriod: -1ms is not allowed; must be 0 or positive",
            Problem(new TcpServerStageOptions { StopGracePeriod = TimeSpan.FromMilliseconds(-1) }));
        Assert.Equal("TcpServerStageOptions.ProxyHeaderTimeout: 2h is not allowed; must be from 1ms to 1h",
            Problem(new TcpServerStageOptions { ProxyProtocol = ProxyProtocol.V1, TrustedProxies = ["127.0.0.1"], ProxyHeaderTimeout = TimeSpan.FromHours(2) }));
    }

    [Fact]
    public void A_bind_retry_delay_above_its_cap_says_which_way_to_change_each()
    {
        // Before: "options 'bind_retry_delay'/'bind_retry_max_delay': 00:01:00/00:00:05 are not allowed; …".
        Assert.Equal("TcpServerStageOptions.BindRetryDelay: 1m is longer than 'BindRetryMaxDelay' 5s; lower BindRetryDelay or raise BindRetryMaxDelay",
            Problem(new TcpServerStageOptions { BindRetryDelay = TimeSpan.FromMinutes(1) }));
        Assert.Equal("TcpServerStageOptions.BindRetryDelay: 0 is not allowed; must be positive, e.g. 100ms",
            Problem(new TcpServerStageOptions { BindRetryDelay = TimeSpan.Zero }));
    }
}
