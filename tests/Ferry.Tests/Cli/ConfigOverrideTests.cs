using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// --set and FERRY__ overrides pick a list element by index or by its case-sensitive name: never a stage whose name
/// differs in case (unless only an environment variable, which may lose its case, names it and it is the only one),
/// never the first of several; a list-root file (seed 003's layout) says how to address its elements. Two stage names that
/// differ only in case are themselves a problem of the file (they could not be told apart by such overrides); the
/// overrides' problems are listed with it.
/// </summary>
public sealed class ConfigOverrideTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-overrides-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Stages Front, front and "1", on ports 23020, 23021 and 23022 (ferry check binds nothing).</summary>
    private string CaseFile()
    {
        var path = Path.Combine(_dir, "case.yaml");
        File.WriteAllText(path, """
            stages:
              - {name: Front, type: tcp_server, config: {bind: "127.0.0.1:23020"}}
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:23021"}}
              - {name: "1", type: tcp_server, config: {bind: "127.0.0.1:23022"}}
            """);
        return path;
    }

    private static async Task<(int Code, List<string> Out, List<string> Err)> CheckAsync(string file, Dictionary<string, string> environment, params string[] sets)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        string[] args = ["check", file, .. sets.SelectMany(s => new[] { "--set", s })];
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, environment, CancellationToken.None);
        return (code, stdout.Lines.ToList(), stderr.Lines.ToList());
    }

    [Fact]
    public async Task A_path_that_names_no_stage_quotes_the_segment_not_the_value_being_set()
    {
        // The value is fine; what names nothing is the path's segment, and that is what the line quotes.
        var seed004 = RepoFiles.Path("examples/seed004-node.yaml");
        var (code, _, stderr) = await CheckAsync(seed004, [], "stages.gateway.config.port=4000");
        Assert.Equal(2, code);
        Assert.Equal("--set stages.gateway.config.port=4000: stages.gateway.config.port: 'gateway' names no element of 'stages': use an index from 0 to 0 or a name (node)", stderr[0]);

        (code, _, stderr) = await CheckAsync(seed004, [], "stages..config.port=4000");
        Assert.Equal(2, code);
        Assert.Equal("--set stages..config.port=4000: stages..config.port: has an empty key in its path", stderr[0]);
    }

    [Fact]
    public async Task A_path_written_as_the_problem_lines_write_it_with_an_index_in_brackets_is_taken()
    {
        // Old code: "unknown key 'stages[0]' (did you mean 'stages'?)", though that is how every problem line names the key.
        var seed004 = RepoFiles.Path("examples/seed004-node.yaml");
        var (code, stdout, stderr) = await CheckAsync(seed004, [], "stages[0].config.port=4000");
        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.Equal($"{seed004}: valid: 1 stage: node (tcp server on 127.0.0.1:4000); 0 routes; bus in_process", Assert.Single(stdout));

        (code, _, stderr) = await CheckAsync(seed004, [], "stages[0].config.port=99999");
        Assert.Equal(2, code);
        Assert.Equal("--set stages[0].config.port=99999: stages[0].config.port: '99999' is not allowed; use a whole number from 0 to 65535 (0 = any free port)", stderr[0]);

        (code, _, stderr) = await CheckAsync(seed004, [], "stages[1].config.port=4000");
        Assert.Equal(2, code);
        Assert.Equal("--set stages[1].config.port=4000: stages[1].config.port: '1' is past the end of 'stages', which has 1 element: use an index from 0 to 0 or a name (node)", stderr[0]);

        // Brackets on a key that is no list are that key as written: an unknown key, not an index.
        (code, _, stderr) = await CheckAsync(seed004, [], "stages[0].config.port[0]=4000");
        Assert.Equal(2, code);
        Assert.StartsWith("--set stages[0].config.port[0]=4000: stages[0].config.port[0]: unknown key 'port[0]' in a tcp_server stage", stderr[0]);
    }

    [Fact]
    public async Task A_stage_whose_name_has_brackets_is_still_found_by_that_name()
    {
        var file = Path.Combine(_dir, "brackets.yaml");
        File.WriteAllText(file, """
            stages:
              - {name: "cam[0]", type: tcp_server, config: {bind: "127.0.0.1:23030"}}
            """);
        var (code, stdout, _) = await CheckAsync(file, [], "stages.cam[0].config.bind=127.0.0.1:23031");
        Assert.Equal(0, code);
        Assert.Equal($"{file}: valid: 1 stage: cam[0] (tcp server on 127.0.0.1:23031); 0 routes; bus in_process", Assert.Single(stdout));
    }

    [Fact]
    public async Task Set_picks_the_stage_whose_name_matches_exactly_not_one_that_differs_in_case()
    {
        // The file itself is refused for its two names that differ only in case (CaseTwin); the override's problems come
        // with it, and say which element each override went to.
        var file = CaseFile();
        var (code, _, stderr) = await CheckAsync(file, [], "stages.front.config.bind=nowhere");
        Assert.Equal(2, code);
        Assert.Equal([CaseTwin(file), "--set stages.front.config.bind=nowhere: stages[1].config.bind: 'nowhere' is not a valid address (no port); use host:port, :port or [ipv6]:port",
            $"ferry check: {file}: 2 problems; nothing was started"], stderr);

        (code, _, stderr) = await CheckAsync(file, [], "stages.FRONT.config.bind=127.0.0.1:23029");
        Assert.Equal(2, code);
        Assert.Contains("--set stages.FRONT.config.bind=127.0.0.1:23029: stages.FRONT.config.bind: 'FRONT' names no element of 'stages' (did you mean 'Front'?): use an index from 0 to 2 or a name (Front, front, 1)", stderr);
    }

    private static string CaseTwin(string file)
        => $"{file}:3:6: stages[1].name: 'front' differs only in case from 'Front', the stage at {file}:2:6; stage names must be unique ignoring case " +
           "(an environment variable's name may lose its case, so an override could not tell the two apart)";

    [Fact]
    public async Task An_index_that_is_also_another_stages_name_is_an_error_naming_both()
    {
        var (code, stdout, stderr) = await CheckAsync(CaseFile(), [], "stages.1.config.bind=127.0.0.1:23028");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Contains("--set stages.1.config.bind=127.0.0.1:23028: stages.1.config.bind: '1' is ambiguous in 'stages': it is an index and a name (stages[1] (front), stages[2] (1)); pick one by its index, e.g. --set stages.2.config.bind=127.0.0.1:23028", stderr);
    }

    [Fact]
    public async Task An_environment_variable_takes_an_exact_name_first_then_a_unique_match_ignoring_case_else_an_error()
    {
        var file = CaseFile();
        // exact (the file is refused for its case twins all the same: the problem says where the value went)
        var (code, _, stderr) = await CheckAsync(file, new() { ["FERRY__STAGES__front__CONFIG__BIND"] = "nowhere" });
        Assert.Equal(2, code);
        Assert.Contains(stderr, line => line.Contains("stages[1].config.bind: 'nowhere' is not a valid address"));
        Assert.Contains(CaseTwin(file), stderr);

        // two names that differ only in case: which one is meant cannot be known
        (code, _, stderr) = await CheckAsync(file, new() { ["FERRY__STAGES__FRONT__CONFIG__BIND"] = "127.0.0.1:23029" });
        Assert.Equal(2, code);
        Assert.Contains("environment FERRY__STAGES__FRONT__CONFIG__BIND: STAGES.FRONT.CONFIG.BIND: 'FRONT' matches more than one element of 'stages' when case is ignored (stages[0] (Front), stages[1] (front)), and environment variable names may not keep their case; pick one by its index, e.g. FERRY__STAGES__0__CONFIG__BIND=127.0.0.1:23029", stderr);

        // one name that matches ignoring case: taken
        var seed004 = RepoFiles.Path("examples/seed004-node.yaml");
        (code, var stdout, _) = await CheckAsync(seed004, new() { ["FERRY__STAGES__NODE__CONFIG__PORT"] = "4000" });
        Assert.Equal(0, code);
        Assert.Contains("node (tcp server on 127.0.0.1:4000)", Assert.Single(stdout));

        // --set is not an environment variable: its case is the user's
        (code, _, stderr) = await CheckAsync(seed004, [], "stages.NODE.config.port=4000");
        Assert.Equal(2, code);
        Assert.Contains("stages.NODE.config.port: 'NODE' names no element of 'stages' (did you mean 'node'?)", stderr[0]);
    }

    [Fact]
    public async Task A_list_root_file_says_it_has_no_stages_key_and_how_to_address_its_elements()
    {
        var seed003 = RepoFiles.Path("examples/seed003-io-tcp.yaml");
        var (code, _, stderr) = await CheckAsync(seed003, [], "stages.tcp-server.config.bind=127.0.0.1:3034");
        Assert.Equal(2, code);
        Assert.Equal("--set stages.tcp-server.config.bind=127.0.0.1:3034: stages.tcp-server.config.bind: 'stages' names no element of this file: it has no 'stages' key, being a list of stages (seed 003's layout); leave 'stages' out of the path: --set tcp-server.config.bind=127.0.0.1:3034", stderr[0]);

        (code, _, stderr) = await CheckAsync(seed003, new() { ["FERRY__stages__0__config__bind"] = "127.0.0.1:3034" });
        Assert.Equal(2, code);
        Assert.EndsWith("leave 'stages' out of the path: FERRY__0__config__bind=127.0.0.1:3034", stderr[0]);

        // as the hint says
        (code, var stdout, _) = await CheckAsync(seed003, [], "tcp-server.config.bind=127.0.0.1:3034");
        Assert.Equal(0, code);
        Assert.Contains("tcp-server (tcp server on 127.0.0.1:3034)", Assert.Single(stdout));
    }
}
