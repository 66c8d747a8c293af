using Ferry.Stages;

namespace Ferry.Tests.Stages;

/// <summary>A server stage's option problems say durations as they are written (30s, 500ms), not as TimeSpan text (00:00:30).</summary>
public sealed class ServerStageOptionsTests
{
    private static string Problem(TcpServerStageOptions options) => Assert.Single(Assert.Throws<StageOptionsException>(options.Validate).Problems);

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
