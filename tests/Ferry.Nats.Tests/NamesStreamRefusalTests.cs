using System.Text;
using Ferry.Bus;
using Ferry.Cli;
using Ferry.Framing;
using Ferry.Hosting;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Tests;

/// <summary>
/// A stream JetStream refuses at start is named by its option in the words of whoever set the options: the property to code, the
/// key as the file spells it to a run file and appsettings, the flag its name is made from to ferry serve. Before, every reader
/// read "(option 'ingress_stream')", a key that neither code nor ferry serve has.
/// </summary>
public sealed class NamesStreamRefusalTests
{
    /// <summary>A server on which someone else's stream already takes the ingress subject of stage <paramref name="stage"/>.</summary>
    private static async Task<NatsServer> ServerTakingAsync(string stage)
    {
        var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await new NatsJSContext(nats).CreateStreamAsync(new StreamConfig("other", [$"ferry.{stage}.in"]));
        return server;
    }

    [SkippableFact]
    public async Task Code_reads_the_property()
    {
        await using var server = await ServerTakingAsync("taken");
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "taken", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        // Old code: "… JetStream refused stream 'ferry_taken_in' (option 'ingress_stream') on subjects …".
        Assert.Contains("JetStream refused stream 'ferry_taken_in' (NatsGatewayOptions.IngressStream) on subjects ferry.taken.in", ex.Message);
        Assert.DoesNotContain("option '", ex.Message);
    }

    [SkippableFact]
    public async Task A_run_file_reads_its_key()
    {
        await using var server = await ServerTakingAsync("taken");
        var file = Path.Combine(Path.GetTempPath(), $"ferry-names-{Guid.NewGuid():n}.yaml");
        await File.WriteAllTextAsync(file, $$"""
            stages:
              - name: taken
                type: tcp_server
                config: {bind: "127.0.0.1:0", framing: lines}
            bus: {type: nats, url: "{{server.Url}}", mode: jetstream}
            """);
        try
        {
            var (code, err) = await RunAsync("run", file);
            Assert.Equal(1, code);
            // Old code: "(option 'ingress_stream')".
            Assert.Contains("JetStream refused stream 'ferry_taken_in' (bus.ingress_stream) on subjects ferry.taken.in", err);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [SkippableFact]
    public async Task Appsettings_reads_its_key_as_it_spells_it()
    {
        await using var server = await ServerTakingAsync("taken");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            {
              "Ferry": {
                "Stages": { "taken": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Framing": "lines" } },
                "Bus": { "Type": "nats", "Url": "{{server.Url}}", "Mode": "jetstream" }
              }
            }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        // Old code: "(option 'ingress_stream')".
        Assert.Contains("JetStream refused stream 'ferry_taken_in' (Bus.IngressStream) on subjects ferry.taken.in", ex.Message);
        await host.StopAsync();
    }

    [SkippableFact]
    public async Task Ferry_serve_reads_the_flag_the_name_is_made_from()
    {
        // ferry serve's stage is tcp_server: its ingress stream is ferry_tcp_server_in.
        await using var server = await ServerTakingAsync("tcp_server");
        var (code, err) = await RunAsync("serve", "--bind", "127.0.0.1:0", "--nats", server.Url, "--nats-mode", "jetstream");
        Assert.NotEqual(0, code);
        // Old code: "(option 'ingress_stream')", a key ferry serve has no flag for.
        Assert.Contains("JetStream refused stream 'ferry_tcp_server_in' (the ingress stream, named from --subject-prefix) on subjects ferry.tcp_server.in", err);
    }

    private static async Task<(int Code, string Err)> RunAsync(params string[] args)
    {
        var stderr = new StringWriter();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await FerryCommand.RunAsync(args, TextReader.Null, new StringWriter(), TextWriter.Synchronized(stderr), deadline.Token);
        return (code, stderr.ToString());
    }
}
