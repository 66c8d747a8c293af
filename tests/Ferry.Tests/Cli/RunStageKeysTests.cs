using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Hosting.Settings;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Cli;

/// <summary>Pipeline files set frame_timeout, max_pending_bytes, transport, allow_from/deny_from, the per-address limits and the group limits.</summary>
public sealed class RunStageKeysTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-keys-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (PipelineDefinition? Pipeline, List<string> Err) Load(string yaml)
    {
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, yaml);
        return PipelineFileCheck.Load(file, "f.yaml");
    }

    [Fact]
    public void Every_admission_and_frame_key_reaches_the_stage_options()
    {
        var (pipeline, err) = Load("""
            stages:
              - name: s
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  frame_timeout: 0
                  max_pending_bytes: 1MiB
                  transport: stream
                  allow_from: [10.0.0.0/8, 127.0.0.0/8]
                  deny_from: 10.1.0.0/16
                  max_connections_per_ip: 5
                  connection_rate_per_ip: 20
                  connection_rate_window: 10s
              - {name: c, type: tcp_client, config: {connect: 127.0.0.1:1, frame_timeout: 5m, max_pending_bytes: 0, transport: auto}}
            """);
        Assert.Empty(err);
        var server = Assert.IsType<ServerStageDeclaration>(pipeline!.Stages[0]).Options;
        Assert.Equal(TimeSpan.Zero, server.FrameTimeout);
        Assert.Equal(1024 * 1024, server.MaxPendingBytes);
        Assert.Equal(StageTransport.Stream, server.Transport);
        Assert.Equal(["10.0.0.0/8", "127.0.0.0/8"], server.AllowFrom!);
        Assert.Equal(["10.1.0.0/16"], server.DenyFrom!);
        Assert.Equal(5, server.MaxConnectionsPerIp);
        Assert.Equal(20, server.ConnectionRatePerIp);
        Assert.Equal(TimeSpan.FromSeconds(10), server.ConnectionRateWindow);
        var client = Assert.IsType<ClientStageDeclaration>(pipeline.Stages[1]).Options;
        Assert.Equal(TimeSpan.FromMinutes(5), client.FrameTimeout);
        Assert.Equal(0, client.MaxPendingBytes);
        Assert.Equal(StageTransport.Auto, client.Transport);
    }

    [Fact]
    public void Bad_values_are_named_at_their_key()
    {
        var (pipeline, err) = Load("""
            stages:
              - name: s
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  frame_timeout: soon
                  max_pending_bytes: lots
                  transport: fast
                  allow_from: [10.0.0.0/99]
                  max_connections_per_ip: -1
            """);
        Assert.Null(pipeline);
        Assert.Contains("f.yaml:6:7: stages[0].config.frame_timeout: 'soon' is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0", err);
        Assert.Contains(err, l => l.StartsWith("f.yaml:7:7: stages[0].config.max_pending_bytes: 'lots' is not a size", StringComparison.Ordinal));
        Assert.Contains("f.yaml:8:7: stages[0].config.transport: 'fast' is not allowed (allowed: auto, epoll, stream)", err);
        Assert.Contains(err, l => l.StartsWith("f.yaml:9:20: stages[0].config.allow_from[0]:", StringComparison.Ordinal) && l.Contains("10.0.0.0/99"));
        Assert.Contains(err, l => l.StartsWith("f.yaml:10:7: stages[0].config.max_connections_per_ip: '-1' is not allowed", StringComparison.Ordinal));
    }

    [Fact]
    public void The_group_limits_bind_on_both_kinds_of_stage_and_default_when_left_out()
    {
        var (pipeline, err) = Load("""
            stages:
              - {name: s, type: tcp_server, config: {bind: 127.0.0.1:0, max_groups_per_connection: 0, max_group_name_length: 64}}
              - {name: c, type: tcp_client, config: {connect: 127.0.0.1:1, max_groups_per_connection: 16, max_group_name_length: 65536}}
              - {name: d, type: tcp_server, config: {bind: 127.0.0.1:0}}
            """);
        Assert.Empty(err);
        var server = Assert.IsType<ServerStageDeclaration>(pipeline!.Stages[0]).Options;
        Assert.Equal(0, server.MaxGroupsPerConnection);
        Assert.Equal(64, server.MaxGroupNameLength);
        var client = Assert.IsType<ClientStageDeclaration>(pipeline.Stages[1]).Options;
        Assert.Equal(16, client.MaxGroupsPerConnection);
        Assert.Equal(65536, client.MaxGroupNameLength);
        var byDefault = Assert.IsType<ServerStageDeclaration>(pipeline.Stages[2]).Options;
        Assert.Equal(1024, byDefault.MaxGroupsPerConnection);
        Assert.Equal(256, byDefault.MaxGroupNameLength);
    }

    [Fact]
    public void Bad_group_limits_are_named_at_their_key_with_what_is_allowed()
    {
        var (pipeline, err) = Load("""
            stages:
              - name: s
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  max_groups_per_connection: -1
                  max_group_name_length: 0
              - {name: c, type: tcp_client, config: {connect: 127.0.0.1:1, max_groups_per_connection: many, max_group_name_length: 65537}}
            """);
        Assert.Null(pipeline);
        Assert.Equal(
        [
            "f.yaml:6:7: stages[0].config.max_groups_per_connection: '-1' is not allowed; use a whole number from 0 to 2147483647 (0 = unlimited)",
            "f.yaml:7:7: stages[0].config.max_group_name_length: '0' is not allowed; use a whole number from 1 to 65536 (characters)",
            "f.yaml:8:64: stages[1].config.max_groups_per_connection: 'many' is not allowed; use a whole number from 0 to 2147483647 (0 = unlimited)",
            "f.yaml:8:97: stages[1].config.max_group_name_length: '65537' is not allowed; use a whole number from 1 to 65536 (characters)",
            "ferry check: f.yaml: 4 problems; nothing was started",
        ], err);
    }

    [Fact]
    public async Task Seed_003s_line_client_may_pause_mid_line_when_the_file_turns_the_frame_timeout_off()
    {
        // The default 30 s frame timeout is on a stage clock; this checks that the file's value reaches the running stage.
        await using var run = RunningCommand.Start(null, "run", RepoFiles.Path("examples/seed003-io-tcp.yaml"),
            "--set", "tcp-server.config.bind=127.0.0.1:0", "--set", "tcp-server.config.frame_timeout=1ms");
        var at = await run.ListeningAsync("tcp-server");
        using var client = await FramedTestClient.ConnectAsync(at);
        await client.SendAsync("typing slowly...");
        var gone = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected"), "the half line cut off by the file's frame_timeout");
        Assert.Equal("frame_timeout", gone.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("reconnect_max_wait: 500ms", 500, 500)]    // the cap alone lowers the 1 s first wait, as --reconnect-max-wait does
    [InlineData("reconnect_wait: 1m", 60_000, 60_000)]      // the first wait alone raises the 30 s cap
    [InlineData("{reconnect_wait: 200ms, reconnect_max_wait: 5s}", 200, 5_000)]
    public void Reconnect_waits_given_alone_move_the_other_default_out_of_their_way_as_ferry_connect_does(string keys, int waitMs, int capMs)
    {
        var block = keys.StartsWith('{') ? keys[1..^1] : keys;
        var (pipeline, err) = Load($$$"""
            stages:
              - {name: back, type: tcp_client, config: {connect: 127.0.0.1:1, {{{block}}}}}
            """);
        Assert.Empty(err);
        var options = Assert.IsType<ClientStageDeclaration>(Assert.Single(pipeline!.Stages)).Options;
        Assert.Equal(TimeSpan.FromMilliseconds(waitMs), options.ReconnectWait);
        Assert.Equal(TimeSpan.FromMilliseconds(capMs), options.ReconnectMaxWait);
    }

    [Fact]
    public void A_bind_retry_cap_alone_lowers_the_first_delay()
    {
        var (pipeline, err) = Load("""
            stages:
              - {name: s, type: tcp_server, config: {bind: 127.0.0.1:0, bind_retry_max_delay: 50ms}}
            """);
        Assert.Empty(err);
        var options = Assert.IsType<ServerStageDeclaration>(Assert.Single(pipeline!.Stages)).Options;
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.BindRetryDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.BindRetryMaxDelay);
    }

    [Fact]
    public void Reconnect_waits_that_cannot_hold_are_said_at_their_keys_in_the_files_words()
    {
        var (pipeline, err) = Load("""
            stages:
              - {name: a, type: tcp_client, config: {connect: 127.0.0.1:1, reconnect_wait: 10s, reconnect_max_wait: 1s}}
              - {name: b, type: tcp_client, config: {connect: 127.0.0.1:1, reconnect_wait: 0}}
              - {name: s, type: tcp_server, config: {bind: 127.0.0.1:0, bind_retry_delay: 10s, bind_retry_max_delay: 1s}}
            """);
        Assert.Null(pipeline);
        Assert.Equal(
        [
            "f.yaml:2:64: stages[0].config.reconnect_wait: '10s' is above reconnect_max_wait '1s'; the first wait must not be above the cap: lower reconnect_wait or raise reconnect_max_wait",
            "f.yaml:3:64: stages[1].config.reconnect_wait: '0' is not allowed; use a duration above 0, e.g. 500ms, 1s or 30s",
            "f.yaml:4:61: stages[2].config.bind_retry_delay: '10s' is above bind_retry_max_delay '1s'; the first wait must not be above the cap: lower bind_retry_delay or raise bind_retry_max_delay",
            "ferry check: f.yaml: 3 problems; nothing was started",
        ], err);
    }
}
