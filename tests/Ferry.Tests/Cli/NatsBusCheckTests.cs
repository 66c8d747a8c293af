using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// What ferry check says of a NATS bus: everything ferry run would refuse at start, all at once, in the file's words, and
/// never a password.
/// </summary>
public sealed class NatsBusCheckTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-nats-check-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task The_summary_masks_the_urls_password()
    {
        var file = _files.Write("secret.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:0}}
            bus: {type: nats, url: "nats://u:hunter2@127.0.0.1:4222"}
            """);
        var (code, stdout, _) = await CliRun.RunAsync("check", file);
        Assert.Equal(0, code);
        Assert.Equal($"{file}: valid: 1 stage: a (tcp server on 127.0.0.1:0); 0 routes; bus nats (nats://u:***@127.0.0.1:4222, core)", Assert.Single(stdout));
    }

    [Fact]
    public async Task A_refused_url_is_quoted_without_its_password()
    {
        var file = _files.Write("path.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:0}}
            bus: {type: nats, url: "nats://u:hunter2@127.0.0.1:4222/x"}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:3:19: bus.url: 'nats://u:***@127.0.0.1:4222/x' is not allowed: a NATS URL names a server, and its path, query or fragment would be ignored; "
                + "use nats://host:port, e.g. nats://127.0.0.1:4222",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_stage_name_that_makes_a_stream_or_subject_too_long_is_refused_before_anything_starts()
    {
        // ferry check said valid, and ferry run failed at start after the stage before it had started (and made its streams).
        var prefix = new string('p', 126);
        var name = new string('s', 128);
        var file = _files.Write("long.yaml", $"""
            stages:
              - {"{"}name: first, type: tcp_server, config: {"{"}bind: 127.0.0.1:0{"}"}{"}"}
              - {"{"}name: {name}, type: tcp_server, config: {"{"}bind: 127.0.0.1:0{"}"}{"}"}
            bus: {"{"}type: nats, mode: jetstream, subject_prefix: {prefix}{"}"}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:3:6: stages[1].name: '{name}' is too long for bus.ingress_stream: it makes a stream name of 258 characters ('{prefix[..20]}…'); "
                + "JetStream allows at most 255: use a shorter bus.subject_prefix or stage name",
            $"{file}:3:6: stages[1].name: '{name}' is too long for bus.egress_stream: it makes a stream name of 259 characters ('{prefix[..20]}…'); "
                + "JetStream allows at most 255: use a shorter bus.subject_prefix or stage name",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_bad_bus_block_does_not_hide_a_stage_name_that_cannot_be_a_subject_token()
    {
        var file = _files.Write("both.yaml", """
            stages:
              - {name: my.stage, type: tcp_server, config: {bind: 127.0.0.1:0}}
            bus:
              type: nats
              mode: jetstream
              ingress_stream: S_{stage}
              egress_stream: S_{stage}
              ingress_subject: '{prefix}.{stage}.out.x'
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:6: stages[0].name: 'my.stage' cannot be a NATS subject token (bus type nats); use letters, digits, '-' and '_' only",
            // Checked without a stage, the names are said with {stage} in them, not as if a stage were called "stage".
            $"{file}:7:3: bus.egress_stream: 'S_{{stage}}' and ingress_stream are both 'S_{{stage}}'; each needs a stream of its own",
            $"{file}:8:3: bus.ingress_subject: '{{prefix}}.{{stage}}.out.x' 'ferry.{{stage}}.out.x' is below egress_subject 'ferry.{{stage}}.out'; "
                + "the subjects below it are the gateways' own (.<instance>, .any; in JetStream mode the egress stream takes all of them): choose one outside it",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }
}
