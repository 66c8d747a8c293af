using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A stage's type, io_tcp's mode and the bus type are read ignoring case, as a block's other words are (<c>mode: JetStream</c>,
/// <c>egress_overflow: Drop</c>) and as a Generic Host read the bus type: before, <c>FERRY__bus__mode=JetStream</c> was taken
/// and <c>FERRY__bus__type=NATS</c> refused.
/// </summary>
public sealed class TypeWordsCaseTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-type-case-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Types_and_modes_in_any_case_are_the_words_they_spell()
    {
        var file = _files.Write("case.yaml", """
            stages:
              - {name: a, type: TCP_Server, config: {bind: 127.0.0.1:0}}
              - {name: b, type: IO_TCP, config: {mode: Client, connect: 127.0.0.1:9}}
            bus: {type: NATS, mode: JetStream}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Empty(stderr);
        Assert.Equal(0, code);
        Assert.Equal($"{file}: valid: 2 stages: a (tcp server on 127.0.0.1:0), b (tcp client to 127.0.0.1:9); 0 routes; bus nats (nats://127.0.0.1:4222, jetstream)",
            Assert.Single(stdout));
    }

    [Fact]
    public async Task The_bus_type_from_the_environment_is_read_ignoring_case_too()
    {
        var file = _files.Write("env.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:0}}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync(["check", file], new Dictionary<string, string> { ["FERRY__bus__type"] = "NATS" });
        Assert.Empty(stderr);
        Assert.Equal(0, code);
        Assert.EndsWith("bus nats (nats://127.0.0.1:4222, core)", Assert.Single(stdout), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_mode_that_is_no_word_in_any_case_is_still_refused_with_its_spelling()
    {
        var file = _files.Write("mode.yaml", """
            stages:
              - {name: c, type: io_tcp, config: {mode: Sever, bind: 127.0.0.1:0}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal($"{file}:2:38: stages[0].config.mode: 'Sever' is not allowed (did you mean 'server'?) (allowed: server, client)", stderr[0]);
    }
}
