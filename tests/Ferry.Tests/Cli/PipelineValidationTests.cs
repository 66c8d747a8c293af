using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>ferry check / ferry run refuse bad files with every problem at once: file:line:column, key, value, allowed.</summary>
public sealed class PipelineValidationTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-check-");

    public void Dispose() => _files.Dispose();

    private string Write(string name, string text) => _files.Write(name, text);

    private static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(string[] args, Dictionary<string, string>? environment = null)
        => CliRun.RunAsync(args, environment ?? []);

    [Fact]
    public async Task A_bad_file_lists_every_problem_in_file_order_with_exact_messages()
    {
        var file = Write("bad.yaml", """
            stages:
              - name: front
                type: tcp_sever
              - name: back
                type: tcp_client
                config:
                  conect: 127.0.0.1:1
                  idle_timeout: NaN
              - name: back
                type: tcp_server
                config:
                  bind: nowhere
                  max_connections: -1
                  egress_buffer: 64KB2
            routes:
              - {from: frnt, to: back}
            telemetri: {}
            """);
        var (code, stdout, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            // The near-miss type is read as tcp_server, so its missing bind is listed now, not one fix later.
            $"{file}:2:5: stages[0].config.bind: missing key 'bind' (a tcp server needs the address it listens on, e.g. \"127.0.0.1:9000\", or \":9000\" for every interface; or host and port)",
            $"{file}:3:5: stages[0].type: 'tcp_sever' is not a stage type (did you mean 'tcp_server'?) (allowed: tcp_server, tcp_client, io_tcp, bridge_server, bridge_client)",
            $"{file}:4:5: stages[1].config.connect: missing key 'connect' (a tcp client needs the remote address, e.g. \"10.0.1.5:4000\")",
            $"{file}:7:7: stages[1].config.conect: unknown key 'conect' in a tcp_client stage (did you mean 'connect'?) (allowed: connect, host, port, local_bind, framing, delimiter, delimiter_position, delimiter_include, delimiter_append, group_size, group_linger, egress_buffer, egress_overflow, egress_wait_timeout, idle_timeout, timeout_seconds, read_buffer, stop_grace_period, stats_interval, tls, frame_timeout, max_pending_bytes, transport, max_groups_per_connection, max_group_name_length, egress_while_disconnected, connect_timeout, reconnect_wait, reconnect_max_wait, reconnect_jitter, reconnect_attempts, healthy_after, close_linger)",
            $"{file}:8:7: stages[1].config.idle_timeout: 'NaN' is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0",
            $"{file}:9:5: stages[2].name: 'back' is already the name of the stage at {file}:4:5; stage names must be unique (their topics would merge)",
            $"{file}:12:7: stages[2].config.bind: 'nowhere' is not a valid address (no port); use host:port, :port or [ipv6]:port",
            $"{file}:13:7: stages[2].config.max_connections: '-1' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            $"{file}:14:7: stages[2].config.egress_buffer: '64KB2' is not a size; use e.g. 65536, 64KiB, 1MiB or 1MB",
            $"{file}:16:6: routes[0].from: 'frnt' is not a stage of this file (did you mean 'front'?) (stages: front, back)",
            $"{file}:17:1: telemetri: unknown key 'telemetri' (did you mean 'telemetry'?) (allowed: stages, bus, routes, telemetry)",
            $"ferry check: {file}: 11 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Two_stage_names_that_differ_only_in_case_are_refused_by_check_with_the_rest()
    {
        // The bus refuses the second when 'ferry run' builds it; 'ferry check' used to pass the file.
        var file = Write("case.yaml", """
            stages:
              - name: Pos
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
              - name: pos
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
            """);
        var (code, stdout, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:5:5: stages[1].name: 'pos' differs only in case from 'Pos', the stage at {file}:2:5; stage names must be unique ignoring case " +
            "(an environment variable's name may lose its case, so an override could not tell the two apart)",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_value_with_control_characters_or_of_great_length_is_shown_escaped_and_cut()
    {
        // An escape sequence in a value reached the reader's terminal as it was, and a pasted blob was printed whole.
        var file = Write("values.yaml", $$"""
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: "\e[31mred​"
                  framing: "{{new string('x', 5000)}}"
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        var bind = Assert.Single(stderr, line => line.Contains("config.bind:"));
        Assert.Contains("'\\u001B[31mred\\u200B'", bind);
        Assert.DoesNotContain('\u001B', string.Concat(stderr));
        var framing = Assert.Single(stderr, line => line.Contains("config.framing:"));
        Assert.Contains($"'{new string('x', 480)}…' (5000 characters)", framing);
        Assert.True(framing.Length < 1500, framing);
    }

    [Fact]
    public async Task A_tls_certificate_that_is_not_pem_is_refused_naming_file_line_and_column()
    {
        var file = Write("tls.yaml", """
            stages:
              - name: node
                type: tcp_server
                config:
                  host: 127.0.0.1
                  port: 3035
                  tls:
                    secure: true
                    certificate: {certificate_pem: "-----BEGIN CERTIFICATE-----", private_key_pem: "-----BEGIN PRIVATE KEY-----"}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.StartsWith($"{file}:9:23: stages[0].config.tls.certificate.certificate_pem: '-----BEGIN CERTIFICATE-----' is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)", stderr[0]);
    }

    [Fact]
    public async Task Environment_overrides_come_before_set_and_both_are_named_in_errors()
    {
        var example = RepoFiles.Path("examples/seed004-node.yaml");
        var (code, _, stderr) = await RunAsync(["check", example], new() { ["FERRY__STAGES__NODE__CONFIG__PORT"] = "99999" });
        Assert.Equal(2, code);
        Assert.Equal("environment FERRY__STAGES__NODE__CONFIG__PORT: stages[0].config.port: '99999' is not allowed; use a whole number from 0 to 65535 (0 = any free port)", stderr[0]);

        // --set wins over the environment
        (code, var stdout, _) = await RunAsync(["check", example, "--set", "stages.node.config.port=4000"], new() { ["FERRY__STAGES__NODE__CONFIG__PORT"] = "99999" });
        Assert.Equal(0, code);
        Assert.Contains("node (tcp server on 127.0.0.1:4000)", Assert.Single(stdout));

        (code, _, stderr) = await RunAsync(["check", example, "--set", "stages.nod.config.port=1"]);
        Assert.Equal(2, code);
        Assert.Equal("--set stages.nod.config.port=1: stages.nod.config.port: 'nod' names no element of 'stages' (did you mean 'node'?): use an index from 0 to 0 or a name (node)", stderr[0]);
    }

    [Fact]
    public async Task Environment_override_reaches_a_running_stage()
    {
        await using var run = RunningCommand.Start(new Dictionary<string, string> { ["FERRY__stages__0__config__port"] = "0" },
            "run", RepoFiles.Path("examples/seed004-node.yaml"));
        var at = await run.ListeningAsync("node");
        Assert.NotEqual(3035, at.Port);
    }

    [Fact]
    public async Task Nothing_starts_when_any_stage_is_invalid()
    {
        var port = FreePorts.One();
        var file = Write("half.yaml", $$$"""
            stages:
              - {name: good, type: tcp_server, config: {bind: "127.0.0.1:{{{port}}}"}}
              - {name: bad, type: tcp_client, config: {connect: "127.0.0.1:1", reconnect_wait: 1e300s}}
            """);
        var (code, stdout, stderr) = await RunAsync(["run", file]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Contains(stderr, l => l.Contains("reconnect_wait: '1e300s' is too long"));
        Assert.True(FreePorts.IsFree(port), "the valid stage never bound its port");
    }

    [Theory]
    [InlineData("stages: [", "is not valid YAML or JSON")]
    [InlineData("stages: []", "stages: has no stages; a pipeline needs at least one stage block")]
    [InlineData("stages: {}", "stages: must be a list of stage blocks")]
    [InlineData("bus: {type: nats, mode: fast}\nstages: [{name: a, type: tcp_server}]", "bus.mode: 'fast' is not allowed (allowed: core, jetstream)")]
    [InlineData("bus: {type: nats, url: 'http://x', max_in_flight: 0}\nstages: [{name: a, type: tcp_server}]", "bus.url: 'http://x' is not allowed; use nats://host:port (or tls://, ws://, wss://)")]
    [InlineData("bus: {type: nats}\nstages: [{name: a.b, type: tcp_server, bind: ':0'}]", "stages[0].name: 'a.b' cannot be a NATS subject token (bus type nats)")]
    [InlineData("bus: {type: natz}\nstages: [{name: a, type: tcp_server}]", "bus.type: 'natz' is not a bus type (did you mean 'nats'?) (allowed: in_process, nats)")]
    [InlineData("stages: [{name: a, type: io_tcp, config: {bind: ':0'}}]", "missing key 'mode' for type io_tcp (allowed: server, client)")]
    [InlineData("stages: [{name: a, type: tcp_server, config: {framing: lines, delimiter: ';'}}]", "cannot be combined with 'framing'")]
    [InlineData("stages: [{name: a, type: tcp_server, config: {idle_timeout: 0.5ms}}]", "'0.5ms' is below 1ms")]
    [InlineData("stages: [{name: a, type: tcp_server, bind: ':0'}]\nroutes: [{from: a, to: a}]", "is the route's own 'from'")]
    [InlineData("stages: [{name: a, type: tcp_server}]\ntelemetry: {prometheus: {listen: localhost}}", "telemetry.prometheus.listen: 'localhost' is not allowed; use an IP address and a port")]
    [InlineData("stages: [{name: a, type: tcp_server}]\ntelemetry: {otlp: {endpoint: 'grpc://x'}}", "telemetry.otlp.endpoint: 'grpc://x' is not allowed; use an http or https URL")]
    [InlineData("stages: [{name: a, type: tcp_server}]\ntelemetry: {otlp: {endpoint: 'http://127.0.0.1:4317', protocol: udp}}", "telemetry.otlp.protocol: 'udp' is not allowed (allowed: grpc, http_protobuf)")]
    public async Task Bad_files_name_the_problem(string yaml, string expected)
    {
        var (code, _, stderr) = await RunAsync(["check", Write("f.yaml", yaml)]);
        Assert.Equal(2, code);
        Assert.Contains(stderr, l => l.Contains(expected));
    }

    [Theory]
    [InlineData("egress_buffer: 0", "stages[0].config.egress_buffer: '0' is too small; use at least 1 byte")]
    [InlineData("read_buffer: 100", "stages[0].config.read_buffer: '100' is too small; use at least 256 bytes")]
    public async Task A_size_below_its_least_says_the_least_in_words(string setting, string expected)
    {
        // Before: "use at least 1 bytes".
        var (code, _, stderr) = await RunAsync(["check", Write("f.yaml", $"stages: [{{name: a, type: tcp_server, config: {{{setting}}}}}]")]);
        Assert.Equal(2, code);
        Assert.Contains(stderr, l => l.EndsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_nats_bus_takes_publish_timeout_and_write_buffer_bytes()
    {
        // Before: both were refused as unknown keys, so only code could set them.
        var file = Write("nats.yaml", """
            stages: [{name: a, type: tcp_server, bind: ':0'}]
            bus: {type: nats, publish_timeout: 250ms, write_buffer_bytes: 1MiB}
            """);
        var problems = new List<Ferry.Hosting.Settings.SettingProblem>();
        var root = Ferry.Cli.Pipeline.ConfigFileLoader.Load(file, File.ReadAllText(file), problems);
        var pipeline = Ferry.Cli.Pipeline.PipelineReader.Read(file, root!, problems);
        Assert.Empty(problems);
        var nats = pipeline!.Bus.Nats!;
        Assert.Equal(TimeSpan.FromMilliseconds(250), nats.PublishTimeout);
        Assert.Equal(1024 * 1024, nats.WriteBufferBytes);
    }

    [Fact]
    public async Task A_nats_bus_names_a_bad_publish_timeout_or_write_buffer_at_its_key()
    {
        var file = Write("nats-bad.yaml", """
            stages: [{name: a, type: tcp_server, bind: ':0'}]
            bus: {type: nats, publish_timeout: 5ms, write_buffer_bytes: 4KiB}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:19: bus.publish_timeout: '5ms' is not allowed; must be from 10ms to 10m",
            $"{file}:2:41: bus.write_buffer_bytes: '4KiB' is not allowed; must be from 65536 (64 KiB) to 67108864 (64 MiB)",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_duration_without_a_unit_is_refused_except_0_and_keys_named_for_their_unit()
    {
        var file = Write("units.yaml", """
            stages:
              - name: a
                type: tcp_server
                config:
                  bind: 127.0.0.1:23020
                  group_linger: 5
                  idle_timeout: 1.5
                  frame_timeout: 0
              - {name: b, type: tcp_server, config: {host: 127.0.0.1, port: 23021, timeout_seconds: 30}}
            bus: {type: nats, ack_timeout: 2}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:6:7: stages[0].config.group_linger: '5' has no unit: write 5s or 5ms",
            $"{file}:7:7: stages[0].config.idle_timeout: '1.5' has no unit: write 1.5s or 1.5ms",
            $"{file}:10:19: bus.ack_timeout: '2' has no unit: write 2s or 2ms",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_stage_level_typo_gets_a_suggestion_and_the_stage_keys_in_the_allowed_list()
    {
        var file = Write("typo.yaml", """
            stages:
              - nme: a
                type: tcp_server
                confg: {bind: "127.0.0.1:23020"}
              - {name: b, type: bridge_client, confg: {address: 127.0.0.1, port: 23030}}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        var server = string.Join(", ", ["name", "type", "mode", "config", .. Ferry.Hosting.Settings.StageReader.ServerKeys]);
        var bridge = string.Join(", ", ["name", "type", "mode", "config", .. Ferry.Hosting.Settings.StageReader.BridgeKeys]);
        Assert.Equal(
        [
            $"{file}:2:5: stages[0].name: missing key 'name'; every stage needs a unique name without '/' or '='",
            $"{file}:2:5: stages[0].nme: unknown key 'nme' in a tcp_server stage (did you mean 'name'?) (allowed: {server})",
            $"{file}:2:5: stages[0].config.bind: missing key 'bind' (a tcp server needs the address it listens on, e.g. \"127.0.0.1:9000\", or \":9000\" for every interface; or host and port)",
            $"{file}:4:5: stages[0].confg: unknown key 'confg' in a tcp_server stage (did you mean 'config'?) (allowed: {server})",
            $"{file}:5:5: stages[1].config.address: missing key 'address' (the bridge's host, e.g. 127.0.0.1)",
            $"{file}:5:5: stages[1].config.port: missing key 'port' (the bridge uses PORT and PORT+1)",
            $"{file}:5:36: stages[1].confg: unknown key 'confg' in a bridge_client stage (did you mean 'config'?) (allowed: {bridge})",
            $"ferry check: {file}: 7 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_yaml_merge_key_is_refused_as_a_merge_key()
    {
        var file = Write("merge.yaml", """
            stages:
              - {name: a, type: tcp_server, config: &cfg {bind: "127.0.0.1:23020", framing: lines}}
              - {name: b, type: tcp_server, config: {<<: *cfg, bind: "127.0.0.1:23021"}}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:3:42: stages[1].config.<<: is a YAML merge key, which pipeline files do not support; write the keys out in this block (an alias of a whole value, e.g. config: *common, works)",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Max_connections_takes_seed_004s_whole_uint32_range()
    {
        // Seed 004 types max_connections as uint32; above int.MaxValue it is a limit no process reaches.
        var good = Write("u32.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {host: 127.0.0.1, port: 23020, max_connections: 4294967295}}
            """);
        var stderr = new LineWriter();
        var pipeline = RunCommand.Load(good, [], new CliIo(TextReader.Null, new LineWriter(), stderr, new Dictionary<string, string>()), "check");
        Assert.Empty(stderr.Lines);
        var options = Assert.IsType<Ferry.Hosting.Settings.ServerStageDeclaration>(Assert.Single(pipeline!.Stages)).Options;
        Assert.Equal(int.MaxValue, options.MaxConnections);

        var bad = Write("u33.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {host: 127.0.0.1, port: 23020, max_connections: 4294967296}}
            """);
        var (code, _, lines) = await RunAsync(["check", bad]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{bad}:2:72: stages[0].config.max_connections: '4294967296' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            $"ferry check: {bad}: 1 problem; nothing was started",
        ], lines);
    }

    [Fact]
    public async Task A_null_value_is_the_key_left_out_and_a_required_key_that_is_null_says_null()
    {
        var good = Write("null.yaml", """
            stages:
              - name: a
                type: tcp_server
                config: {bind: "127.0.0.1:23020", idle_timeout: null, max_connections: ~, bind_attempts: null, tls: {secure: false, certificate: null}}
            """);
        var stderr = new LineWriter();
        var pipeline = RunCommand.Load(good, [], new CliIo(TextReader.Null, new LineWriter(), stderr, new Dictionary<string, string>()), "check");
        Assert.Empty(stderr.Lines);
        var options = Assert.IsType<Ferry.Hosting.Settings.ServerStageDeclaration>(Assert.Single(pipeline!.Stages)).Options;
        Assert.Equal(TimeSpan.Zero, options.IdleTimeout);
        Assert.Equal(128, options.MaxConnections);
        Assert.Equal(1, options.BindAttempts); // a pipeline file's default, as when the key is left out

        var bad = Write("nulls.yaml", """
            stages:
              - {name: null, type: tcp_server, bind: ':0'}
              - {name: b, type: tcp_client, config: {connect: null}}
              - {name: c, type: ~}
            """);
        var (code, _, lines) = await RunAsync(["check", bad]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{bad}:2:6: stages[0].name: is null; every stage needs a unique name without '/' or '='",
            $"{bad}:3:42: stages[1].config.connect: is null (a tcp client needs the remote address, e.g. \"10.0.1.5:4000\")",
            $"{bad}:4:15: stages[2].type: is null (allowed: tcp_server, tcp_client, io_tcp, bridge_server, bridge_client)",
            $"ferry check: {bad}: 3 problems; nothing was started",
        ], lines);

        // A list or a block as the name: before, "is null" too.
        var list = Write("listname.yaml", """
            stages:
              - {name: [x], type: tcp_server, bind: ':0'}
              - {name: {a: b}, type: tcp_server, bind: ':0'}
            """);
        (code, _, lines) = await RunAsync(["check", list]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{list}:2:6: stages[0].name: must be a single value, not a block or a list; every stage needs a unique name without '/' or '='",
            $"{list}:3:6: stages[1].name: must be a single value, not a block or a list; every stage needs a unique name without '/' or '='",
            $"ferry check: {list}: 2 problems; nothing was started",
        ], lines);
    }

    [Fact]
    public async Task Option_problems_show_the_value_as_written_and_only_the_keys_the_user_wrote()
    {
        var file = Write("texts.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:23020", stats_interval: 0, egress_wait_timeout: 0}}
              - {name: c, type: bridge_client, config: {address: "", port: 23030}}
            bus: {type: nats, subject_prefix: "a b"}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:67: stages[0].config.stats_interval: '0' is not allowed; must be at least 10 ms",
            $"{file}:2:86: stages[0].config.egress_wait_timeout: '0' is not allowed; must be positive, e.g. 5s",
            $"{file}:3:45: stages[1].config.address: '' is empty; give the bridge's host, e.g. 127.0.0.1",
            $"{file}:4:19: bus.subject_prefix: 'a b' is not allowed; use subject tokens (letters, digits, '-', '_') separated by '.'",
            $"ferry check: {file}: 4 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_framing_delimiter_that_starts_with_0x_and_is_not_valid_hex_is_reported_at_its_key()
    {
        // Before, delimiter=0x0d0 was the 5-byte text "0x0d0" and the file checked fine: a hex typo framed silently wrong.
        var file = Write("hex.yaml", """
            stages:
              - name: a
                type: tcp_server
                config:
                  bind: "127.0.0.1:23020"
                  framing: "delimiter,delimiter=0x0d0"
            """);
        var (code, stdout, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:6:7: stages[0].config.framing: 'delimiter,delimiter=0x0d0' is not a valid framing: "
                + "delimiter=0x0d0: an odd number of hex digits (3) after 0x; after 0x give an even number of hex digits, two per byte, e.g. 0x03 or 0x0d0a; "
                + @"for a text that starts with ""0x"", write its '0' as the escape \x30, e.g. \x30xff (see docs/framing.md)",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_missing_file_is_one_line_and_exit_2()
    {
        var (code, _, stderr) = await RunAsync(["run", _files.PathOf("nope.yaml")]);
        Assert.Equal(2, code);
        Assert.Contains("cannot read", Assert.Single(stderr));
    }

    [Fact]
    public async Task A_near_miss_type_or_mode_is_read_as_meant_so_the_stages_other_problems_are_listed_too()
    {
        // Before: only the mode (or the type) was said; the stage's other mistakes came out one fix later.
        var file = Write("nearmiss.yaml", """
            - name: s
              type: io_tcp
              config: {mode: sever, bind: "127.0.0.1:0", idle_timeout: 7, bogus: 1}
            - name: t
              type: tcp_sever
              config: {bind: "127.0.0.1:0", max_connections: -4}
            - name: u
              type: nothing_like_it
              config: {bogus: 1}
            """);
        var (code, _, lines) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Contains(lines, l => l.Contains("[0].config.mode: 'sever' is not allowed (did you mean 'server'?)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("[0].config.idle_timeout: '7' has no unit", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("[0].config.bogus: unknown key 'bogus'", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("[1].type: 'tcp_sever' is not a stage type (did you mean 'tcp_server'?)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("[1].config.max_connections: '-4'", StringComparison.Ordinal));
        // No near miss: its keys cannot be told right or wrong, so only the type is said.
        Assert.Contains(lines, l => l.Contains("[2].type: 'nothing_like_it' is not a stage type", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("[2].config", StringComparison.Ordinal));
        Assert.Equal($"ferry check: {file}: 6 problems; nothing was started", lines[^1]);
    }
}
