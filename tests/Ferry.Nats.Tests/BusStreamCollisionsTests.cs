using System.Text;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Hosting;
using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Nats.Tests;

/// <summary>
/// Two stages on one server must not name the same JetStream stream, however each configures its streams. Their subjects may all
/// differ, so the subject check passed them: the gateway started second found the stream holding the other stage's subjects and
/// failed its start, with the first stage already running (or, for <c>ferry run</c> and the host, half of the pipeline).
/// </summary>
public sealed class BusStreamCollisionsTests
{
    private static StageStreams Of(string stage, Action<NatsGatewayOptions>? configure = null)
    {
        var options = new NatsGatewayOptions { Mode = NatsDeliveryMode.JetStream };
        configure?.Invoke(options);
        options.Validate(stage);
        return StageStreams.Of(stage, options);
    }

    [Fact]
    public void Stages_with_the_default_streams_do_not_meet()
        => Assert.Empty(BusStreamCollisions.Between(Of("pos"), Of("atm")));

    [Fact]
    public void A_stream_option_without_the_stage_puts_every_stage_in_one_stream()
    {
        void Shared(NatsGatewayOptions o) => o.IngressStream = "events";
        // Old code: nothing said before the start; the second stage's gateway failed its start.
        Assert.Equal(
            ["meets stage 'pos' on JetStream: its NatsGatewayOptions.IngressStream 'events' and the NatsGatewayOptions.IngressStream 'events' of 'pos' are one "
                + "stream, which holds the subjects of one stage only: the gateway that starts second would fail its start; give each stage streams of its own: "
                + "change NatsGatewayOptions.IngressStream ({stage} in a stream name makes it the stage's own)"],
            BusStreamCollisions.Between(Of("pos", Shared), Of("atm", Shared)));
    }

    [Fact]
    public void One_stages_ingress_stream_can_be_anothers_egress_stream()
    {
        void Joined(NatsGatewayOptions o) => (o.IngressStream, o.EgressStream) = ("{prefix}_{stage}", "{prefix}_{stage}_out");
        Assert.Equal(
            ["meets stage 'pos' on JetStream: its NatsGatewayOptions.IngressStream 'ferry_pos_out' and the NatsGatewayOptions.EgressStream 'ferry_pos_out' of 'pos' "
                + "are one stream, which holds the subjects of one stage only: the gateway that starts second would fail its start; give each stage streams of "
                + "its own: change NatsGatewayOptions.IngressStream or NatsGatewayOptions.EgressStream (each has {stage}, but with the words around it the two "
                + "stages' names make one stream name)"],
            BusStreamCollisions.Between(Of("pos", Joined), Of("pos_out", Joined)));
    }

    [Fact]
    public void Another_prefix_can_make_the_default_names_meet()
    {
        // A '.' of the prefix is '_' in a stream name: x.y with z and x with y_z both make x_y_z_in and x_y_z_out, on subjects that differ.
        var problems = BusStreamCollisions.Between(Of("z", o => o.SubjectPrefix = "x.y"), Of("y_z", o => o.SubjectPrefix = "x")).ToList();
        Assert.Equal(2, problems.Count);
        Assert.StartsWith("meets stage 'z' on JetStream: its NatsGatewayOptions.IngressStream 'x_y_z_in' and the NatsGatewayOptions.IngressStream 'x_y_z_in' of 'z' ", problems[0]);
        Assert.StartsWith("meets stage 'z' on JetStream: its NatsGatewayOptions.EgressStream 'x_y_z_out' and the NatsGatewayOptions.EgressStream 'x_y_z_out' of 'z' ", problems[1]);
        Assert.Null(BusSubjectCollisions.Between(StageSubjects.Of("z", new NatsGatewayOptions { SubjectPrefix = "x.y" }), StageSubjects.Of("y_z", new NatsGatewayOptions { SubjectPrefix = "x" })));
    }

    [Fact]
    public void Core_mode_has_no_streams_to_meet_on()
    {
        void Shared(NatsGatewayOptions o) => (o.Mode, o.IngressStream, o.EgressStream) = (NatsDeliveryMode.Core, "events", "replies");
        Assert.Empty(BusStreamCollisions.Between(Of("pos", Shared), Of("atm", Shared)));
        // One stage in core mode, the other in JetStream mode: only the one has streams.
        Assert.Empty(BusStreamCollisions.Between(Of("pos", Shared), Of("atm", o => o.IngressStream = "events")));
    }

    [Fact]
    public void Names_that_differ_only_in_case_are_two_streams_as_nats_server_keeps_them()
    {
        // nats-server keeps streams by their exact name: Events and events are two (A_stream_name_in_another_case_is_another_stream).
        Assert.Empty(BusStreamCollisions.Between(Of("pos", o => o.IngressStream = "Events"), Of("atm", o => o.IngressStream = "events")));
    }

    [Fact]
    public void Gateways_of_one_stage_share_its_streams()
        => Assert.Empty(BusStreamCollisions.Between(Of("pos", o => o.IngressStream = "events"), Of("pos", o => o.IngressStream = "events")));

    [Fact]
    public void Each_stream_of_a_stage_that_is_an_earlier_ones_is_said_once()
    {
        void Fixed(NatsGatewayOptions o) => (o.IngressStream, o.EgressStream) = ("events", "replies");
        var said = BusStreamCollisions.Of([Of("pos", Fixed), Of("atm", Fixed), Of("gps", Fixed)]).Select(p => (p.Stage.Stage, p.Problem[..p.Problem.IndexOf(" of ", StringComparison.Ordinal)])).ToList();
        Assert.Equal(
        [
            ("atm", "meets stage 'pos' on JetStream: its NatsGatewayOptions.IngressStream 'events' and the NatsGatewayOptions.IngressStream 'events'"),
            ("atm", "meets stage 'pos' on JetStream: its NatsGatewayOptions.EgressStream 'replies' and the NatsGatewayOptions.EgressStream 'replies'"),
            ("gps", "meets stage 'pos' on JetStream: its NatsGatewayOptions.IngressStream 'events' and the NatsGatewayOptions.IngressStream 'events'"),
            ("gps", "meets stage 'pos' on JetStream: its NatsGatewayOptions.EgressStream 'replies' and the NatsGatewayOptions.EgressStream 'replies'"),
        ], said);
    }

    private static async Task<(int Code, List<string> Err)> FerryAsync(params string[] args)
    {
        var stderr = new StringWriter();
        var code = await Ferry.Cli.FerryCommand.RunAsync(args, TextReader.Null, new StringWriter(), stderr, CancellationToken.None);
        return (code, stderr.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries).ToList());
    }

    private static async Task<string> WriteAsync(string text)
    {
        var file = Path.Combine(Path.GetTempPath(), $"ferry-streams-{Guid.NewGuid():n}.yaml");
        await File.WriteAllTextAsync(file, text);
        return file;
    }

    [Fact]
    public async Task Ferry_check_lists_every_stream_a_later_stage_shares_at_its_name_in_the_files_words()
    {
        var file = await WriteAsync("""
            stages:
              - name: pos
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
              - name: atm
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
              - name: gps
                type: tcp_server
                config: {bind: "127.0.0.1:0"}
            bus: {type: nats, mode: jetstream, ingress_stream: events, egress_stream: replies}
            """);
        try
        {
            var (code, said) = await FerryAsync("check", file);
            // Old code: 0, the file was fine; ferry run started pos, and atm's gateway failed its start.
            Assert.Equal(2, code);
            string Line(int line, int index, string stage, string key, string stream) => $"{file}:{line}:5: stages[{index}].name: '{stage}' meets stage 'pos' on JetStream: "
                + $"its bus.{key} '{stream}' and the bus.{key} '{stream}' of 'pos' are one stream, which holds the subjects of one stage only: the gateway that starts "
                + $"second would fail its start; give each stage streams of its own: change bus.{key} ({{stage}} in a stream name makes it the stage's own)";
            Assert.Equal(
            [
                Line(5, 1, "atm", "ingress_stream", "events"),
                Line(5, 1, "atm", "egress_stream", "replies"),
                Line(8, 2, "gps", "ingress_stream", "events"),
                Line(8, 2, "gps", "egress_stream", "replies"),
                $"ferry check: {file}: 4 problems; nothing was started",
            ], said);

            // Core mode has no streams: the same options are of no matter there.
            await File.WriteAllTextAsync(file, (await File.ReadAllTextAsync(file)).Replace("mode: jetstream", "mode: core", StringComparison.Ordinal));
            var (coreCode, coreSaid) = await FerryAsync("check", file);
            Assert.True(coreCode == 0, string.Join("\n", coreSaid));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Ferry_run_refuses_a_stage_whose_ingress_stream_is_anothers_egress_stream_and_starts_nothing()
    {
        var port = FreePorts.One();
        var file = await WriteAsync($$$"""
            stages:
              - {name: pos, type: tcp_server, config: {bind: "127.0.0.1:{{{port}}}"}}
              - {name: pos_out, type: tcp_server, config: {bind: "127.0.0.1:0"}}
            bus: {type: nats, url: "nats://127.0.0.1:1", mode: jetstream, ingress_stream: "{prefix}_{stage}", egress_stream: "{prefix}_{stage}_out"}
            """);
        try
        {
            var (code, said) = await FerryAsync("run", file);
            Assert.Equal(2, code);
            Assert.Equal(
            [
                $"{file}:3:6: stages[1].name: 'pos_out' meets stage 'pos' on JetStream: its bus.ingress_stream 'ferry_pos_out' and the bus.egress_stream "
                    + "'ferry_pos_out' of 'pos' are one stream, which holds the subjects of one stage only: the gateway that starts second would fail its start; "
                    + "give each stage streams of its own: change bus.ingress_stream or bus.egress_stream (each has {stage}, but with the words around it the two "
                    + "stages' names make one stream name)",
                $"ferry run: {file}: 1 problem; nothing was started",
            ], said);
            Assert.True(FreePorts.IsFree(port), "pos was started");
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
                         "Bus": { "Type": "nats", "Mode": "jetstream", "EgressStream": "replies" } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        // Old code: the host started one stage's gateway, and the other's failed its start. A configuration's keys come in order of
        // their names: atm is read first, so pos is the later stage.
        Assert.Equal(
            ["configuration 'Ferry:Stages:pos': name: 'pos' meets stage 'atm' on JetStream: its Bus.EgressStream 'replies' and the Bus.EgressStream 'replies' of "
                + "'atm' are one stream, which holds the subjects of one stage only: the gateway that starts second would fail its start; give each stage streams "
                + "of its own: change Bus.EgressStream ({stage} in a stream name makes it the stage's own)"],
            error.Failures);
    }

    private static TcpServerStage Stage(string name)
        => new(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());

    [SkippableFact]
    public async Task A_gateway_that_names_a_started_ones_stream_on_its_server_is_refused_before_it_connects()
    {
        await using var server = await NatsServer.StartNewAsync(monitor: true);
        await using var pos = await Gateway.StartAsync(server, "pos", FramingSpec.Parse("lines"), o => (o.Mode, o.IngressStream) = (NatsDeliveryMode.JetStream, "events"));
        await using var stage = Stage("atm");
        await using (var atm = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, IngressStream = "events" }))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => atm.StartAsync());
            // Old code: it connected, found 'events' holding ferry.pos.in and failed its start in the server's terms.
            Assert.Equal("NATS gateway of stage 'atm': stage 'atm' meets stage 'pos' on JetStream: its NatsGatewayOptions.IngressStream 'events' and the "
                + "NatsGatewayOptions.IngressStream 'events' of 'pos' are one stream, which holds the subjects of one stage only: the gateway that starts second "
                + "would fail its start; give each stage streams of its own: change NatsGatewayOptions.IngressStream ({stage} in a stream name makes it the stage's own)",
                error.Message);
            Assert.DoesNotContain(await server.ConnectionsAsync(), n => n.StartsWith("ferry-atm-", StringComparison.Ordinal));
        }

        // In core mode the same option names no stream: the gateway starts.
        await using var core = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, IngressStream = "events" });
        await core.StartAsync();
    }

    [SkippableFact]
    public async Task A_stream_name_in_another_case_is_another_stream()
    {
        // What the comparison relies on: the server creates Events beside events, each with its stage's subjects, and both gateways start.
        await using var server = await NatsServer.StartNewAsync();
        await using var pos = await Gateway.StartAsync(server, "pos", configure: o => (o.Mode, o.IngressStream) = (NatsDeliveryMode.JetStream, "Events"));
        await using var atm = await Gateway.StartAsync(server, "atm", configure: o => (o.Mode, o.IngressStream) = (NatsDeliveryMode.JetStream, "events"));
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NATS.Client.JetStream.NatsJSContext(nats);
        Assert.Equal(["ferry.pos.in"], (await js.GetStreamAsync("Events")).Info.Config.Subjects);
        Assert.Equal(["ferry.atm.in"], (await js.GetStreamAsync("events")).Info.Config.Subjects);
    }
}
