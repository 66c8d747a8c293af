using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Framing;
using Ferry.Hosting.Settings;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// What a new user of ferry check / ferry run tripped over: a check that passed a file run then refused, a seed's
/// own example value taken wrongly, errors that named the wrong thing or no key.
/// </summary>
public sealed class NewUserPipelineTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-newuser-");

    public void Dispose() => _files.Dispose();

    private string Write(string name, string text) => _files.Write(name, text);

    private static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task Check_refuses_a_scrape_endpoint_on_a_stages_address_as_run_would_fail_to_bind_it()
    {
        var file = Write("clash.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:19500}}
              - {name: b, type: bridge_server, config: {address: 127.0.0.1, port: 19510}}
            telemetry:
              prometheus: {listen: 127.0.0.1:19511}
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:5:16: telemetry.prometheus.listen: '127.0.0.1:19511' is where stage 'b' ({file}:3:65) listens; give the scrape endpoint a port of its own",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);

        (code, _, stderr) = await RunAsync("run", file, "--set", "telemetry.prometheus.listen=0.0.0.0:19500");
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"--set telemetry.prometheus.listen=0.0.0.0:19500: telemetry.prometheus.listen: '0.0.0.0:19500' is where stage 'a' ({file}:2:42) listens (127.0.0.1:19500); give the scrape endpoint a port of its own",
            $"ferry run: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Theory]
    [InlineData("0x03", "delimiter,delimiter=0x03")]
    [InlineData("0x0d0a", "delimiter,delimiter=0x0d0a")]
    [InlineData("'\\x03'", "delimiter,delimiter=0x03")]
    [InlineData("\\n", "delimiter,delimiter=0x0a")]
    [InlineData("\"\\n\"", "delimiter,delimiter=0x0a")]
    [InlineData("\"a,b\"", "delimiter,delimiter=0x612c62")]
    [InlineData("ETX", "delimiter,delimiter=0x455458")]
    public void Seed_003s_delimiter_is_read_as_a_framing_spec_reads_it(string written, string expected)
    {
        var file = Write("seed003.yaml", $$"""
            - name: s
              type: io_tcp
              config: {mode: server, bind: "127.0.0.1:0", delimiter: {{written}}}
            """);
        var stderr = new LineWriter();
        var pipeline = RunCommand.Load(file, [], new CliIo(TextReader.Null, new LineWriter(), stderr, new Dictionary<string, string>()), "check");
        Assert.Empty(stderr.Lines);
        var framing = Assert.IsType<ServerStageDeclaration>(pipeline!.Stages[0]).Options.Framing;
        Assert.Equal(FramingSpec.Parse(expected + ",include=false,append=false").Spec, framing.Spec);
    }

    [Fact]
    public async Task A_seed_003_delimiter_that_is_not_valid_hex_or_escapes_is_refused_at_its_key()
    {
        var file = Write("seed003.yaml", """
            - {name: s, type: io_tcp, config: {mode: server, bind: "127.0.0.1:0", delimiter: 0x0}}
            - {name: t, type: io_tcp, config: {mode: server, bind: "127.0.0.1:0", delimiter: \q}}
            """);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:1:71: [0].config.delimiter: '0x0' is not a delimiter: an odd number of hex digits (1) after 0x; after 0x give an even number of hex digits, two per byte, e.g. 0x03 or 0x0d0a; for a text that starts with \"0x\", write its '0' as the escape \\x30, e.g. \\x30xff",
            $"{file}:2:71: [1].config.delimiter: '\\q' is not a delimiter: unknown escape '\\q' (allowed: \\n \\r \\t \\0 \\\\ \\xHH)",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Theory]
    [InlineData("stages: []\n", "stages")]
    [InlineData("stages:\n", "stages")]
    [InlineData("[]\n", "(file)")]
    public async Task A_file_without_stages_says_it_has_none_not_that_it_is_not_a_list(string text, string key)
    {
        var file = Write("none.yaml", text);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:1:1: {key}: has no stages; a pipeline needs at least one stage block (name, type, config), e.g. - {{name: front, type: tcp_server, config: {{bind: 127.0.0.1:9000}}}}",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_directory_given_as_the_file_is_named_as_one_not_as_access_denied()
    {
        var (code, _, stderr) = await RunAsync("run", _files.Directory);
        Assert.Equal(2, code);
        Assert.Equal([$"ferry run: cannot read '{_files.Directory}': it is a directory; give the pipeline file itself (YAML or JSON), e.g. ferry run {_files.PathOf("ferry.yaml")}"], stderr);
    }

    [Fact]
    public async Task Every_duplicate_key_is_listed_with_its_full_key_and_where_the_first_is()
    {
        var file = Write("dup.yaml", """
            stages:
              - name: a
                type: tcp_server
                config: {bind: "127.0.0.1:1", bind: ":2"}
              - name: b
                name: c
                type: tcp_server
                config:
                  bind: "127.0.0.1:3"
                  tls: {secure: true, secure: false}
            routes: []
            routes: []
            """);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:4:35: stages[0].config.bind: 'bind' is given twice in this block (first at {file}:4:14); keep one",
            $"{file}:6:5: stages[1].name: 'name' is given twice in this block (first at {file}:5:5); keep one",
            // The first of each is read, and the file validated with it: its other problems are listed too (before, the
            // duplicates were listed alone).
            $"{file}:10:7: stages[1].config.tls.certificate: missing key 'certificate': a TLS server needs certificate_pem and private_key_pem (or certificate_file and private_key_file)",
            $"{file}:10:27: stages[1].config.tls.secure: 'secure' is given twice in this block (first at {file}:10:13); keep one",
            $"{file}:12:1: routes: 'routes' is given twice in this block (first at {file}:11:1); keep one",
            $"ferry check: {file}: 5 problems; nothing was started",
        ], stderr);

        var json = Write("dup.json", """{"stages": [{"name": "a", "type": "tcp_server", "config": {"bind": "127.0.0.1:9000", "bind": ":9001"}}]}""");
        (code, _, stderr) = await RunAsync("check", json);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{json}:1:86: stages[0].config.bind: 'bind' is given twice in this block (first at {json}:1:60); keep one",
            $"ferry check: {json}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Set_reaches_a_stage_whose_name_has_a_dot_by_that_name()
    {
        var file = Write("dot.yaml", """
            stages:
              - {name: front.v2, type: tcp_server, config: {bind: 127.0.0.1:19400}}
              - {name: front, type: tcp_server, config: {bind: 127.0.0.1:19401}}
            """);
        var (code, stdout, stderr) = await RunAsync("check", file, "--set", "stages.front.v2.config.bind=127.0.0.1:19402", "--set", "stages.front.config.bind=127.0.0.1:19403");
        Assert.Empty(stderr);
        Assert.Equal(0, code);
        Assert.Equal([$"{file}: valid: 2 stages: front.v2 (tcp server on 127.0.0.1:19402), front (tcp server on 127.0.0.1:19403); 0 routes; bus in_process"], stdout);
    }

    [Fact]
    public async Task A_bad_list_element_is_reported_where_it_was_written_or_set()
    {
        var file = Write("list.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  allow_from: [10.0.0.0/8, 127.0.0.1/32]
                  proxy_protocol: v1
                  trusted_proxies:
                    - 10.0.1.2
                    - 10.0.1.300
            """);
        var (code, _, stderr) = await RunAsync("check", file, "--set", "stages.front.config.allow_from.1=bad");
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:10:11: stages[0].config.trusted_proxies[1]: '10.0.1.300' is not an address or network; use e.g. 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32",
            "--set stages.front.config.allow_from.1=bad: stages[0].config.allow_from[1]: 'bad' is not a network; use CIDR like 10.0.0.0/8 or 2001:db8::/32",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_negative_duration_is_not_told_that_0_is_allowed_where_it_is_not()
    {
        // Before: "… it is negative; use 0 or more, e.g. 30s", and reconnect_wait: 0 was then refused ("use a duration above 0").
        var file = Write("neg.yaml", """
            stages:
              - {name: c, type: tcp_client, config: {connect: 127.0.0.1:1, reconnect_wait: -1s}}
            """);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal($"{file}:2:64: stages[0].config.reconnect_wait: '-1s' is not a duration: it is negative; write one such as 500ms, 30s, 2m or 1h", stderr[0]);
    }

    [Fact]
    public async Task An_override_reaches_a_stage_key_whether_the_file_wrote_it_in_config_or_flat()
    {
        // Before: each check refused the file: "stages[0].config.port: 'port' is given twice (first at --set stages.node.port=…)".
        var file = Write("node.yaml", """
            stages:
              - name: node
                type: tcp_server
                config: {host: 127.0.0.1, port: 3035}
              - {name: flat, type: tcp_server, bind: "127.0.0.1:3036"}
            """);
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(["check", file, "--set", "stages.node.port=19701", "--set", "stages.flat.config.bind=127.0.0.1:19702"],
            TextReader.Null, stdout, stderr, new Dictionary<string, string> { ["FERRY__stages__node__host"] = "127.0.0.2" }, CancellationToken.None);
        Assert.Empty(stderr.Lines);
        Assert.Equal(0, code);
        Assert.Equal([$"{file}: valid: 2 stages: node (tcp server on 127.0.0.2:19701), flat (tcp server on 127.0.0.1:19702); 0 routes; bus in_process"], stdout.Lines);
    }

    [Fact]
    public async Task A_bridge_handshake_timeout_of_0_is_listed_with_the_files_other_problems_not_after_them()
    {
        // Before: the handshake_timeout line was missing; it came out (as "'0' must be at least 1 ms") only once every
        // other problem was fixed, since the bridge's options were checked only when the stages were built.
        Assert.Equal(0, (await RunAsync("cert", "self-signed", "--out", _files.PathOf("one"))).Code);
        Assert.Equal(0, (await RunAsync("cert", "self-signed", "--out", _files.PathOf("two"))).Code);
        var (one, two) = (_files.PathOf("one.pem"), _files.PathOf("two.key"));
        var file = Write("all.yaml", $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:0, max_connections: many}}
              - name: b
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls:
                    secure: true
                    certificate:
                      certificate_file: {{{one}}}
                      private_key_file: {{{two}}}
              - {name: c, type: bridge_server, config: {address: 127.0.0.1, port: 19810, handshake_timeout: 0, max_payload: 0}}
            """);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:61: stages[0].config.max_connections: 'many' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            $"{file}:11:11: stages[1].config.tls.certificate.private_key_file: '{two}' does not match the certificate (subject CN=localhost); give the private key the certificate was issued for",
            $"{file}:12:78: stages[2].config.handshake_timeout: '0' is not allowed; use a duration above 0, e.g. 10s",
            $"{file}:12:100: stages[2].config.max_payload: '0' is too small; use at least 1 byte",
            $"ferry check: {file}: 4 problems; nothing was started",
        ], stderr);
    }
}
