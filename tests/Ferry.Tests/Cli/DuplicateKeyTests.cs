using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Hosting.Settings;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A key written twice in one mapping of a pipeline file is a problem at its second occurrence (full key, where the first
/// is), and the first occurrence is the one read: the rest of the file is still validated, so ferry check and ferry run
/// list every problem of the file at once and nothing starts. Before, the duplicates were listed alone and the file's
/// other mistakes came out only in the next run.
/// </summary>
public sealed class DuplicateKeyTests : IDisposable
{
    private const string TcpServerKeys = "bind, host, port, backlog, max_connections, framing, delimiter, delimiter_position, delimiter_include, delimiter_append, group_size, group_linger, egress_buffer, egress_overflow, egress_wait_timeout, idle_timeout, timeout_seconds, read_buffer, stop_grace_period, stats_interval, tls, frame_timeout, max_pending_bytes, transport, max_groups_per_connection, max_group_name_length, queue_when_disconnected, group_notices, bind_retry_delay, bind_retry_max_delay, bind_attempts, proxy_protocol, trusted_proxies, proxy_header_timeout, allow_from, deny_from, max_connections_per_ip, connection_rate_per_ip, connection_rate_window, half_close_linger, close_linger";

    private readonly ScratchFiles _files = new("ferry-dupkeys-");

    public void Dispose() => _files.Dispose();

    private string Write(string name, string text) => _files.Write(name, text);

    private static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(string[] args, Dictionary<string, string>? environment = null)
        => CliRun.RunAsync(args, environment ?? []);

    private static string Twice(string file, int line, int column, string path, int firstLine, int firstColumn) =>
        $"{file}:{line}:{column}: {path}: '{path[(path.LastIndexOf('.') + 1)..]}' is given twice in this block (first at {file}:{firstLine}:{firstColumn}); keep one";

    /// <summary>The node at <paramref name="path"/> (as problems name it) in the loaded tree; null when there is none.</summary>
    private static ConfigNode? Find(ConfigNode node, string path) =>
        node.Path == path ? node : node.Nodes.Select(n => Find(n, path)).FirstOrDefault(n => n is not null);

    [Fact]
    public async Task A_duplicate_key_is_listed_with_the_files_other_problems_and_nothing_starts()
    {
        var file = Write("others.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:19000
                  max_connections: lots
                  bind: 127.0.0.1:19001
                  colour: blue
            routes:
              - {from: front, to: nowhere, from: back}
            """);
        var expected = new List<string>
        {
            $"{file}:6:7: stages[0].config.max_connections: 'lots' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            Twice(file, 7, 7, "stages[0].config.bind", 5, 7),
            $"{file}:8:7: stages[0].config.colour: unknown key 'colour' in a tcp_server stage (allowed: {TcpServerKeys})",
            $"{file}:10:19: routes[0].to: 'nowhere' is not a stage of this file (stages: front)",
            Twice(file, 10, 32, "routes[0].from", 10, 6),
        };
        var (code, stdout, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal([.. expected, $"ferry check: {file}: 5 problems; nothing was started"], stderr);

        (code, stdout, stderr) = await RunAsync(["run", file]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal([.. expected, $"ferry run: {file}: 5 problems; nothing was started"], stderr);
    }

    [Fact]
    public void The_first_occurrence_is_read_whether_the_value_is_a_scalar_a_mapping_or_a_sequence()
    {
        var file = Write("first.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:19000
                  bind: nowhere
                  framing: lines
                  framing:
                    name: length
                    bytes: 4
                  allow_from: [10.0.0.0/8]
                  allow_from:
                    - bad
                    - worse
                  tls: {secure: false}
                  tls: 12
            """);
        var problems = new List<SettingProblem>();
        var root = ConfigFileLoader.Load(file, File.ReadAllText(file), problems);
        Assert.NotNull(root);
        Assert.Equal(
        [
            Twice(file, 6, 7, "stages[0].config.bind", 5, 7),
            Twice(file, 8, 7, "stages[0].config.framing", 7, 7),
            Twice(file, 12, 7, "stages[0].config.allow_from", 11, 7),
            Twice(file, 16, 7, "stages[0].config.tls", 15, 7),
        ], problems.Select(p => p.ToString()));
        var config = Find(root, "stages[0].config")!;
        Assert.Equal(["bind", "framing", "allow_from", "tls"], config.Nodes.Select(n => n.Key));
        Assert.Equal("127.0.0.1:19000", Find(root, "stages[0].config.bind")!.Value);
        Assert.Equal("lines", Find(root, "stages[0].config.framing")!.Value);
        Assert.Equal(["10.0.0.0/8"], Find(root, "stages[0].config.allow_from")!.Nodes.Select(n => n.Value));
        Assert.Equal(ConfigNodeKind.Mapping, Find(root, "stages[0].config.tls")!.Kind);

        // The later values were not read: only the duplicates are problems, and the first's bad value is one.
        PipelineReader.Read(file, root, problems);
        Assert.Equal(4, problems.Count);
        var bad = Write("bad-first.yaml", "stages:\n  - {name: a, type: tcp_server, config: {bind: nowhere, bind: 127.0.0.1:19000}}\n");
        problems.Clear();
        PipelineReader.Read(bad, ConfigFileLoader.Load(bad, File.ReadAllText(bad), problems)!, problems);
        Assert.Equal(
        [
            Twice(bad, 2, 57, "stages[0].config.bind", 2, 42),
            $"{bad}:2:42: stages[0].config.bind: 'nowhere' is not a valid address (no port); use host:port, :port or [ipv6]:port",
        ], problems.Select(p => p.ToString()));
    }

    [Fact]
    public async Task Duplicates_in_deeper_blocks_in_list_items_and_inside_a_dropped_value_are_each_listed()
    {
        var file = Write("nested.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:19000
              - name: back
                type: tcp_client
                config:
                  connect: 127.0.0.1:19000
                  tls:
                    server_name: a.example
                    server_name: b.example
                    trust: {ca_file: /nonexistent/ca.pem, ca_file: /other.pem}
                config:
                  connect: 127.0.0.1:1
                  connect: 127.0.0.1:2
                  tls: {server_name: c, server_name: d}
            routes:
              - from: front
                to: back
                to: front
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        // The second config block is not read (its own problems are not listed), but a key written twice in it is still a
        // mistake in the file, listed as before.
        Assert.Equal(
        [
            $"{file}:10:7: stages[1].config.tls.secure: missing key 'secure': without secure: true TLS is off (the stage would serve plain TCP), but the block sets server_name: set secure: true to serve TLS, or remove the TLS settings",
            Twice(file, 12, 9, "stages[1].config.tls.server_name", 11, 9),
            $"{file}:13:9: stages[1].config.tls.trust: unknown key 'trust' in the tls block (allowed: secure, certificate, ca_certificate_pem, ca_certificate_file, server_name, accept_invalid_certificates, client_certificate, handshake_timeout, certificate_revocation_list_pem, certificate_revocation_list_file)",
            Twice(file, 13, 47, "stages[1].config.tls.trust.ca_file", 13, 17),
            Twice(file, 14, 5, "stages[1].config", 8, 5),
            Twice(file, 16, 7, "stages[1].config.connect", 15, 7),
            Twice(file, 17, 29, "stages[1].config.tls.server_name", 17, 13),
            Twice(file, 21, 5, "routes[0].to", 20, 5),
            $"ferry check: {file}: 8 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_key_given_three_times_is_two_problems_each_naming_the_first()
    {
        var file = Write("three.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:19000", idle_timeout: 5, idle_timeout: 10s, idle_timeout: 20s}}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:67: stages[0].config.idle_timeout: '5' has no unit: write 5s or 5ms",
            Twice(file, 2, 84, "stages[0].config.idle_timeout", 2, 67),
            Twice(file, 2, 103, "stages[0].config.idle_timeout", 2, 67),
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_top_level_list_given_twice_keeps_the_first_list()
    {
        var file = Write("seq.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {bind: 127.0.0.1:19000}}
            stages:
              - {name: other, type: tcp_server, config: {bind: nowhere}}
              - [1, 2]
            routes: [{from: front, to: front, target: reply}]
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            Twice(file, 3, 1, "stages", 1, 1),
            $"{file}:6:24: routes[0].to: 'front' is the route's own 'from'; to send packets back where they came from, use target: reply on a route pair or ferry serve --echo",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task An_anchor_written_in_a_dropped_value_still_serves_the_aliases_after_it()
    {
        // The second 'bind' and 'tls' are not read where they are written, but stage 'third' uses them by alias, and is
        // validated with them (the alias's own key path, the anchored text's line and column). An alias as the dropped
        // value (framing: *b) is dropped like any other value.
        var file = Write("alias.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: &b 127.0.0.1:19000
                  framing: lines
                  framing: *b
              - name: back
                type: tcp_server
                config:
                  bind: 127.0.0.1:19001
                  bind: &second 127.0.0.1:19002
                  tls: &tls {secure: false}
                  tls: &tls2 {secure: true, certificate: {pem: x}}
              - name: third
                type: tcp_server
                config: {bind: *second, tls: *tls2, max_connections: many}
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            Twice(file, 7, 7, "stages[0].config.framing", 6, 7),
            Twice(file, 12, 7, "stages[1].config.bind", 11, 7),
            Twice(file, 14, 7, "stages[1].config.tls", 13, 7),
            $"{file}:14:33: stages[2].config.tls.certificate.certificate_pem: missing key 'certificate_pem' (or 'certificate_file'): the certificate as PEM text (or a PEM file)",
            $"{file}:14:33: stages[2].config.tls.certificate.private_key_pem: missing key 'private_key_pem' (or 'private_key_file'): the private key as PEM text (or a PEM file)",
            $"{file}:14:47: stages[2].config.tls.certificate.pem: unknown key 'pem' in the tls certificate block (allowed: certificate_pem, private_key_pem, certificate_file, private_key_file)",
            $"{file}:17:41: stages[2].config.max_connections: 'many' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            $"ferry check: {file}: 7 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task An_alias_used_as_a_key_is_compared_by_the_key_it_names()
    {
        // Before: "(file): is not valid YAML or JSON: Duplicate key bind", at the first key, with no path; nothing else was listed.
        // The same alias as a key of another block is that block's own key, not a duplicate.
        var file = Write("aliaskey.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  &k bind: 127.0.0.1:19000
                  *k : 127.0.0.1:19001
                  other:
                    *k : 127.0.0.1:19002
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            Twice(file, 6, 7, "stages[0].config.bind", 5, 7),
            $"{file}:7:7: stages[0].config.other: unknown key 'other' in a tcp_server stage (allowed: {TcpServerKeys})",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task An_alias_of_a_block_used_as_a_key_twice_is_two_unknown_keys_not_the_end_of_the_file()
    {
        // Before: "(file): is not valid YAML or JSON: Duplicate key …", with no path, and nothing else was listed.
        var file = Write("aliasblockkey.yaml", """
            stages:
              - name: front
                type: tcp_server
                config: &front
                  bind: 127.0.0.1:19000
              - name: back
                type: tcp_server
                config:
                  *front : 1
                  *front : 2
                  bind: 127.0.0.1:19001
                  framing: lins
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:9:7: stages[1].config.*front: unknown key '*front' in a tcp_server stage (allowed: {TcpServerKeys})",
            $"{file}:10:7: stages[1].config.*front: unknown key '*front' in a tcp_server stage (allowed: {TcpServerKeys})",
            $"{file}:12:7: stages[1].config.framing: 'lins' is not a framing (did you mean 'lines'?) (allowed: delimiter, fixed, header, length, lines, mux, raw, text-length, u16be, u32be, zmtp) (see docs/framing.md)",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_merge_key_given_twice_is_a_duplicate_and_the_first_is_still_reported_as_unsupported()
    {
        var file = Write("merge.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  <<: {framing: lines}
                  <<: {idle_timeout: 30s}
                  bind: 127.0.0.1:19000
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:5:7: stages[0].config.<<: is a YAML merge key, which pipeline files do not support; write the keys out in this block (an alias of a whole value, e.g. config: *common, works)",
            Twice(file, 6, 7, "stages[0].config.<<", 5, 7),
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Two_equal_blocks_used_as_keys_are_two_unknown_keys_not_the_end_of_the_file()
    {
        // Before: "(file): is not valid YAML or JSON: Duplicate key [ x ]", and nothing else was listed.
        var file = Write("complex.yaml", """
            stages:
              - name: a
                type: tcp_server
                config:
                  bind: 127.0.0.1:19000
                  ? [x]
                  : 1
                  ? [x]
                  : 2
                  max_connections: lots
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:6:9: stages[0].config.[ x ]: unknown key '[ x ]' in a tcp_server stage (allowed: {TcpServerKeys})",
            $"{file}:8:9: stages[0].config.[ x ]: unknown key '[ x ]' in a tcp_server stage (allowed: {TcpServerKeys})",
            $"{file}:10:7: stages[0].config.max_connections: 'lots' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_json_file_with_a_duplicate_member_is_validated_the_same_way()
    {
        var file = Write("dup.json", """
            {
            	"stages": [
            		{"name": "front", "type": "tcp_server", "config": {"bind": "127.0.0.1:19000", "tls": {"secure": false, "secure": true}, "bind": "x"}},
            		{"name": "back", "type": "tcp_server", "type": "tcp_client", "config": {"bind": "127.0.0.1:19001", "colour": "blue"}}
            	],
            	"routes": [], "routes": [1]
            }
            """);
        var (code, _, stderr) = await RunAsync(["check", file]);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            Twice(file, 3, 106, "stages[0].config.tls.secure", 3, 89),
            Twice(file, 3, 123, "stages[0].config.bind", 3, 54),
            Twice(file, 4, 42, "stages[1].type", 4, 20),
            $"{file}:4:102: stages[1].config.colour: unknown key 'colour' in a tcp_server stage (allowed: {TcpServerKeys})",
            Twice(file, 6, 16, "routes", 6, 2),
            $"ferry check: {file}: 5 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Environment_and_set_overrides_apply_to_the_first_occurrence_and_are_validated()
    {
        var file = Write("over.yaml", """
            stages:
              - name: front
                name: back
                type: tcp_server
                config:
                  bind: 127.0.0.1:19000
                  bind: 127.0.0.1:19001
                  max_connections: 10
            """);
        var (code, _, stderr) = await RunAsync(
            ["check", file, "--set", "stages.front.config.bind=127.0.0.1:19002", "--set", "stages.back.config.idle_timeout=1s", "--set", "stages.front.config.framing=nonsense"],
            new Dictionary<string, string> { ["FERRY__stages__front__config__max_connections"] = "lots" });
        Assert.Equal(2, code);
        Assert.Equal(
        [
            Twice(file, 3, 5, "stages[0].name", 2, 5),
            Twice(file, 7, 7, "stages[0].config.bind", 6, 7),
            "--set stages.back.config.idle_timeout=1s: stages.back.config.idle_timeout: 'back' names no element of 'stages': use an index from 0 to 0 or a name (front)",
            "environment FERRY__stages__front__config__max_connections: stages[0].config.max_connections: 'lots' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            "--set stages.front.config.framing=nonsense: stages[0].config.framing: 'nonsense' is not a framing (allowed: delimiter, fixed, header, length, lines, mux, raw, text-length, u16be, u32be, zmtp) (see docs/framing.md)",
            $"ferry check: {file}: 5 problems; nothing was started",
        ], stderr);

        // Good overrides on top of the file: the duplicates are then its only problems (the --set bind is not "given twice").
        (code, _, stderr) = await RunAsync(["check", file, "--set", "stages.front.config.bind=127.0.0.1:19002"],
            new Dictionary<string, string> { ["FERRY__stages__front__config__max_connections"] = "20" });
        Assert.Equal(2, code);
        Assert.Equal(
        [
            Twice(file, 3, 5, "stages[0].name", 2, 5),
            Twice(file, 7, 7, "stages[0].config.bind", 6, 7),
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }
}
