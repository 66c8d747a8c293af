using System.Text;
using CsCheck;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Hosting;
using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Nats.Tests;

/// <summary>
/// Two stages on one bus must not meet on a subject, however each configures its subjects. The name check compared a stage only
/// with others of the same templates: a template without <c>{stage}</c> (every stage on <c>ferry.out</c>), another prefix, or two
/// gateways made in code with options of their own met unseen, and their traffic mixed.
/// </summary>
public sealed class BusSubjectCollisionsTests
{
    // Tokens of the patterns, and of the subjects tried against them: c is a token no pattern names.
    private static readonly string[] PatternTokens = ["a", "b", "*"];
    private static readonly string[] SubjectTokens = ["a", "b", "c"];

    private static readonly Gen<string> Pattern =
        Gen.Select(Gen.Int[0, PatternTokens.Length - 1].Array[0, 4], Gen.Bool)
            .Where(t => t.Item1.Length > 0 || t.Item2)
            .Select(t => string.Join('.', t.Item1.Select(i => PatternTokens[i]).Concat(t.Item2 ? [">"] : [])));

    /// <summary>Every subject of 1 to 5 tokens of <see cref="SubjectTokens"/>: a meeting of two patterns of at most 4 tokens and '&gt;' has one this long.</summary>
    private static readonly IReadOnlyList<string> Subjects = [.. Enumerable.Range(1, 5).SelectMany(Words)];

    private static IEnumerable<string> Words(int length)
        => length == 1 ? SubjectTokens : Words(length - 1).SelectMany(w => SubjectTokens.Select(t => w + "." + t));

    /// <summary>NATS matching written out by its rules, one token at a time: '*' one token, '&gt;' (last) one or more.</summary>
    private static bool Reference(string[] pattern, int i, string[] subject, int j)
    {
        if (i == pattern.Length)
            return j == subject.Length;
        if (pattern[i] == ">")
            return i == pattern.Length - 1 && j < subject.Length;
        return j < subject.Length && (pattern[i] == "*" || pattern[i] == subject[j]) && Reference(pattern, i + 1, subject, j + 1);
    }

    private static bool Reference(string pattern, string subject) => Reference(pattern.Split('.'), 0, subject.Split('.'), 0);

    [Fact]
    public void Two_patterns_meet_exactly_when_some_subject_matches_both()
        => Gen.Select(Pattern, Pattern).Sample((a, b) =>
        {
            var brute = Subjects.FirstOrDefault(s => Reference(a, s) && Reference(b, s));
            var meeting = SubjectPattern.Meeting(a, b, filler: "c");
            if ((brute is null) != (meeting is null))
                return false;
            // What it gives as the meeting is one: a subject both match.
            return meeting is null || (Reference(a, meeting) && Reference(b, meeting));
        }, seed: "0N0XIzNsQ0O2", iter: 20_000, threads: 1, print: t => $"'{t.Item1}' and '{t.Item2}'");

    [Fact]
    public void A_pattern_matches_what_the_rules_say()
        => Gen.Select(Pattern, Gen.Int[0, Subjects.Count - 1]).Sample((pattern, i) => SubjectPattern.Matches(pattern, Subjects[i]) == Reference(pattern, Subjects[i]),
            seed: "0N0XIzNsQ0O2", iter: 20_000, threads: 1, print: t => $"'{t.Item1}' against '{Subjects[t.Item2]}'");

    [Theory]
    [InlineData("a.b", "a.b", "a.b")]
    [InlineData("a.*", "*.b", "a.b")]
    [InlineData("a.>", "a.b.c", "a.b.c")]
    [InlineData("a.>", "*.*", "a.x")]
    [InlineData("a.b", "a.b.>", null)]
    [InlineData("a", "a.>", null)]
    [InlineData(">", "*", "x")]
    [InlineData("a.*", "a.b.c", null)]
    [InlineData("ferry.pos.out.>", "ferry.pos.out.any", "ferry.pos.out.any")]
    public void Concrete_meetings(string a, string b, string? meeting)
    {
        Assert.Equal(meeting, SubjectPattern.Meeting(a, b));
        Assert.Equal(meeting, SubjectPattern.Meeting(b, a));
    }

    private static StageSubjects Of(string stage, Action<NatsGatewayOptions>? configure = null)
    {
        var options = new NatsGatewayOptions();
        configure?.Invoke(options);
        options.Validate(stage);
        return StageSubjects.Of(stage, options);
    }

    [Fact]
    public void Stages_with_the_default_subjects_do_not_meet()
        => Assert.Null(BusSubjectCollisions.Between(Of("pos"), Of("atm")));

    [Fact]
    public void An_egress_subject_without_the_stage_puts_every_stage_on_one()
    {
        // Old code: nothing said (a template without {stage} was "the configuration's choice"): each stage's gateways took the
        // other's egress, and in one process the replies of both (one instance) went to both.
        void Shared(NatsGatewayOptions o) => o.EgressSubject = "{prefix}.out";
        Assert.Equal("meets stage 'pos' on NATS: its NatsGatewayOptions.EgressSubject 'ferry.out' and the NatsGatewayOptions.EgressSubject 'ferry.out' of 'pos' "
            + "meet on 'ferry.out', so their messages would mix; give each stage subjects of its own: change NatsGatewayOptions.EgressSubject ({stage} in a subject makes it the stage's own)",
            BusSubjectCollisions.Between(Of("pos", Shared), Of("atm", Shared)));
    }

    [Fact]
    public void A_subject_below_another_stages_egress_subject_meets_it()
    {
        // atm publishes its packets where pos's gateways take egress for any one of their clients.
        var problem = BusSubjectCollisions.Between(Of("pos"), Of("atm", o => o.IngressSubject = "ferry.pos.out.any"));
        Assert.Equal("meets stage 'pos' on NATS: its NatsGatewayOptions.IngressSubject 'ferry.pos.out.any' and the NatsGatewayOptions.EgressSubject 'ferry.pos.out' "
            + "(and every subject below it, 'ferry.pos.out.>') of 'pos' meet on 'ferry.pos.out.any', so their messages would mix; give each stage subjects of its own: "
            + "change NatsGatewayOptions.IngressSubject or NatsGatewayOptions.EgressSubject ({stage} in a subject makes it the stage's own)", problem);
    }

    [Fact]
    public void Another_prefix_can_put_a_stage_below_another()
    {
        // atm's prefix is below pos's egress subject: all of atm's subjects are, and pos's egress stream takes them.
        var problem = BusSubjectCollisions.Between(Of("pos"), Of("atm", o => o.SubjectPrefix = "ferry.pos.out"));
        Assert.StartsWith("meets stage 'pos' on NATS: its NatsGatewayOptions.IngressSubject 'ferry.pos.out.atm.in' and the NatsGatewayOptions.EgressSubject 'ferry.pos.out' ", problem);
        Assert.Null(BusSubjectCollisions.Between(Of("pos"), Of("atm", o => o.SubjectPrefix = "other")));
    }

    [Fact]
    public void One_events_subject_and_one_stats_subject_may_serve_every_stage()
    {
        // Each event and each stats message names its stage.
        Assert.Null(BusSubjectCollisions.Between(Of("pos", o => o.EventsSubject = "ferry.events"), Of("atm", o => o.EventsSubject = "ferry.events")));
        Assert.Null(BusSubjectCollisions.Between(Of("pos", o => o.StatsSubject = "ferry.stats"), Of("atm", o => o.StatsSubject = "ferry.stats")));
        // One stage's events where another's stats are: two kinds of message on one subject.
        Assert.NotNull(BusSubjectCollisions.Between(Of("pos", o => o.EventsSubject = "ferry.all"), Of("atm", o => o.StatsSubject = "ferry.all")));
    }

    [Fact]
    public void Each_stage_is_named_by_its_own_readers_words()
    {
        var file = new NatsGatewayOptions { EgressSubject = "{prefix}.out", SayKey = key => "bus." + key };
        file.Validate("pos");
        Assert.Contains("its NatsGatewayOptions.EgressSubject 'ferry.out' and the bus.egress_subject 'ferry.out' of 'pos' meet on 'ferry.out', so their messages would mix; "
            + "give each stage subjects of its own: change NatsGatewayOptions.EgressSubject or bus.egress_subject",
            BusSubjectCollisions.Between(StageSubjects.Of("pos", file), Of("atm", o => o.EgressSubject = "{prefix}.out")));
    }

    [Fact]
    public async Task Ferry_check_refuses_the_later_stage_at_its_name_in_the_files_words()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ferry-meet-{Guid.NewGuid():n}.yaml");
        await File.WriteAllTextAsync(file, """
            stages:
              - name: pos
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
              - name: atm
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
            bus: {type: nats, egress_subject: "{prefix}.out"}
            """);
        try
        {
            var stderr = new StringWriter();
            var code = await Ferry.Cli.FerryCommand.RunAsync(["check", file], TextReader.Null, new StringWriter(), stderr, CancellationToken.None);
            var said = stderr.ToString();
            // Old code: 0, the file was fine.
            Assert.True(code == 2, said);
            Assert.Contains(":5:5: stages[1].name: 'atm' meets stage 'pos' on NATS: its bus.egress_subject 'ferry.out' and the bus.egress_subject 'ferry.out' of 'pos' "
                + "meet on 'ferry.out', so their messages would mix; give each stage subjects of its own: change bus.egress_subject", said);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_host_refuses_the_later_stage_in_its_words()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            { "Ferry": { "Stages": { "pos": { "Type": "tcp_server", "Bind": "127.0.0.1:0" }, "atm": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } },
                         "Bus": { "Type": "nats", "ControlSubject": "{prefix}.ctrl" } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        // Old code: the host started both, and a kill switch for one closed the other's connections too.
        Assert.True(error.Failures.Any(f => f.Contains("meets stage ", StringComparison.Ordinal)
            && f.Contains("on NATS: its Bus.ControlSubject 'ferry.ctrl' and the Bus.ControlSubject 'ferry.ctrl' of ", StringComparison.Ordinal)), string.Join("\n", error.Failures));
    }

    [SkippableFact]
    public async Task A_gateway_whose_stage_meets_a_started_one_on_its_server_is_refused_before_it_connects()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false, monitor: true);
        await using var pos = await Gateway.StartAsync(server, "pos", FramingSpec.Parse("lines"));
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "atm", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        var options = new NatsGatewayOptions { Url = server.Url, IngressSubject = "ferry.pos.out.any" };
        await using (var atm = new NatsGateway(stage, options))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => atm.StartAsync());
            // Old code: it started, and every packet of atm's clients went to one of pos's clients as egress.
            Assert.Equal("NATS gateway of stage 'atm': stage 'atm' meets stage 'pos' on NATS: its NatsGatewayOptions.IngressSubject 'ferry.pos.out.any' and the "
                + "NatsGatewayOptions.EgressSubject 'ferry.pos.out' (and every subject below it, 'ferry.pos.out.>') of 'pos' meet on 'ferry.pos.out.any', so their "
                + "messages would mix; give each stage subjects of its own: change NatsGatewayOptions.IngressSubject or NatsGatewayOptions.EgressSubject "
                + "({stage} in a subject makes it the stage's own)", error.Message);
            Assert.DoesNotContain(await server.ConnectionsAsync(), n => n.StartsWith("ferry-atm-", StringComparison.Ordinal));
        }

        // Once pos's gateway is gone the subjects are atm's to take.
        await pos.DisposeAsync();
        await using var again = new NatsGateway(stage, options);
        await again.StartAsync();
    }
}
