using System.Text;
using Ferry.Bus;
using Ferry.Cli;
using Ferry.Hosting;
using Ferry.Stages;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.Stages;

/// <summary>
/// One rule for a stage's name in the library, the host and ferry run (StageNames): the name is in the stage's topics, every
/// metric series, log line and logger category, and with NATS its subjects and streams. Before, the library refused only '/'
/// (and ferry run '/' and '='): a newline forged log lines, a zero-width space or a space at an end made two stages that look
/// alike, a 100 000-character name went into every log line, and "Pos" and "pos" ran side by side though a configuration's keys
/// cannot tell them apart.
/// </summary>
public sealed class NamesStageRuleTests
{
    public static TheoryData<string, string> Refused => new()
    {
        { "a\nb", "control or format character U+000A in it" },
        { "a\tb", "control or format character U+0009 in it" },
        { "\u001b[31mred", "control or format character U+001B in it" },
        { "pos\u200b", "control or format character U+200B in it" },
        { "pos\u202e", "control or format character U+202E in it" },
        { " pos", "white space at an end" },
        { "pos ", "white space at an end" },
        { "a=b", "'=' in it" },
        { "a/b", "'/' in it" },
        { new string('x', 129), "129 characters long" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void The_library_refuses_it_at_construction_saying_why_and_what_is_allowed(string name, string why)
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0" }, new InProcessBus()));
        var problem = Assert.Single(error.Problems);
        Assert.StartsWith("TcpServerStageOptions.Name: '", problem, StringComparison.Ordinal);
        Assert.Contains($"is not allowed ({why}); a stage name is 1 to 128 characters without '/', '=', control or format characters, "
            + "and without white space at either end", problem);
        // The name is quoted so that the error cannot forge a line of its own.
        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain('\u001b', error.Message);
        Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions { Name = name, Connect = "127.0.0.1:9" }.Validate());
    }

    [Theory]
    [InlineData("pos")]
    [InlineData("tcp_server")]
    [InlineData("front.v2")]
    [InlineData("front end")]
    [InlineData("caf\u00e9")]
    public async Task Other_names_still_run(string name)
    {
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0" }, new InProcessBus());
        Assert.Equal(name, stage.Name);
        new TcpServerStageOptions { Name = new string('x', 128) }.Validate();
    }

    [Fact]
    public void A_long_name_is_quoted_cut_with_its_length()
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { Name = new string('x', 100_000) }.Validate());
        Assert.StartsWith($"TcpServerStageOptions.Name: '{new string('x', 40)}…' (100000 characters) is not allowed (100000 characters long)", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Length < 400, error.Message);
    }

    [Fact]
    public async Task Names_that_differ_only_in_case_are_one_name_on_a_bus()
    {
        var bus = new InProcessBus();
        await using var first = new TcpServerStage(new TcpServerStageOptions { Name = "Pos", Bind = "127.0.0.1:0" }, bus);
        var error = Assert.Throws<InvalidOperationException>(() => new TcpServerStage(new TcpServerStageOptions { Name = "pos", Bind = "127.0.0.1:0" }, bus));
        Assert.StartsWith("a stage named 'Pos' already runs on this bus, the same name as 'pos' but for case", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_host_refuses_a_name_from_appsettings_by_the_same_rule()
    {
        using var host = Build("""{ "Ferry": { "Stages": { "front\u200b": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }""");
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("is not allowed (control or format character U+200B in it); a stage name is 1 to 128 characters"));
    }

    [Fact]
    public async Task The_host_refuses_a_name_given_in_code_by_the_same_rule()
    {
        using var host = Build(null, s => s.AddTcpServerStage("front\n", o => o with { Bind = "127.0.0.1:0" }));
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("is not allowed (control or format character U+000A in it)"));
    }

    [Fact]
    public async Task The_host_refuses_two_stages_whose_names_differ_only_in_case()
    {
        using var host = Build("""{ "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }""",
            s => s.AddTcpServerStage("Front", o => o with { Bind = "127.0.0.1:0" }));
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("stage name 'Front' is already used by configuration 'Ferry:Stages:front' as 'front'; stage names must be unique per bus, ignoring case"));
    }

    [Fact]
    public async Task Ferry_check_refuses_a_name_by_the_same_rule()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ferry-names-{Guid.NewGuid():n}.yaml");
        await File.WriteAllTextAsync(file, "stages:\n  - name: \"front\\t\"\n    type: tcp_server\n    config: {bind: \"127.0.0.1:0\"}\n");
        try
        {
            var stderr = new LineWriter();
            var code = await FerryCommand.RunAsync(["check", file], TextReader.Null, new LineWriter(), stderr, new Dictionary<string, string>(), CancellationToken.None);
            Assert.Equal(2, code);
            Assert.Contains(stderr.Lines, l => l.Contains("stages[0].name: 'front\\t' is not allowed (control or format character U+0009 in it); a stage name is 1 to 128 characters"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static IHost Build(string? appsettings, Action<IServiceCollection>? more = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (appsettings is not null)
        {
            builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(appsettings)));
            builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        }
        more?.Invoke(builder.Services);
        return builder.Build();
    }
}
