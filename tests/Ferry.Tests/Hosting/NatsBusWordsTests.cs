namespace Ferry.Tests.Hosting;

/// <summary>
/// The NATS bus section's own checks (subjects that overlap) are said at the key they are about and name the other keys as the
/// user spells them: a PascalCase appsettings.json is told <c>EgressSubject</c>, not the run files' <c>egress_subject</c>, and a
/// problem of keys the section does not set is said by those keys, not as the gateway's raw text at the whole <c>Bus</c> block.
/// </summary>
public sealed class NatsBusWordsTests
{
    private static Task<IReadOnlyList<string>> HostFailuresAsync(string bus) => HostStartFailures.OfAsync($$"""
            { "Ferry": { "Bus": { {{bus}} }, "Stages": { "pos": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }
            """);

    [Fact]
    public async Task A_subject_below_the_egress_subject_names_it_in_pascal_case()
    {
        var failures = await HostFailuresAsync("""
            "Type": "nats", "EgressSubject": "ferry.{stage}.out", "StatsSubject": "ferry.{stage}.out.stats"
            """);
        Assert.Equal(
            "configuration 'Ferry:Bus:StatsSubject': Bus.StatsSubject: 'ferry.{stage}.out.stats' is below EgressSubject 'ferry.{stage}.out'; the subjects below it are the "
            + "gateways' own (.<instance>, .any; in JetStream mode the egress stream takes all of them): choose one outside it",
            Assert.Single(failures));
    }

    [Fact]
    public async Task Two_subjects_alike_are_said_at_the_key_written_naming_the_other()
    {
        var same = await HostFailuresAsync("""
            "Type": "nats", "EventsSubject": "{prefix}.{stage}.in"
            """);
        Assert.Equal(
            "configuration 'Ferry:Bus:EventsSubject': Bus.EventsSubject: '{prefix}.{stage}.in' and IngressSubject are both 'ferry.{stage}.in'; each needs a subject of its own",
            Assert.Single(same));
    }
}
