using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Hosting;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.Hosting;

public sealed class GenericHostTests
{
    /// <summary>A host with <paramref name="appsettings"/>'s <c>Ferry</c> section (null: no configuration, stages only in code).</summary>
    private static IHost Build(string? appsettings, Action<IServiceCollection>? more = null, TimeSpan? shutdownTimeout = null, string section = "Ferry")
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (appsettings is not null)
        {
            builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(appsettings)));
            builder.Services.AddFerry(builder.Configuration.GetSection(section));
        }
        if (shutdownTimeout is { } timeout)
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = timeout);
        more?.Invoke(builder.Services);
        return builder.Build();
    }

    [Fact]
    public async Task A_host_starts_two_stages_from_appsettings_and_stops_them_and_health_follows_the_listener()
    {
        var port = FreePorts.One();
        using var host = Build($$"""
            {
              "Ferry": {
                "Stages": {
                  "front": { "Type": "tcp_server", "Bind": "127.0.0.1:{{port}}", "Framing": "lines", "MaxConnections": 10, "IdleTimeout": "30s" },
                  "back":  { "Type": "tcp_client", "Config": { "connect": "127.0.0.1:{{port}}", "framing": "lines", "reconnect_wait": "50ms" } }
                }
              }
            }
            """, shutdownTimeout: TimeSpan.FromSeconds(3));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        var front = stages.GetServer("front");
        var back = stages.GetClient("back");
        Assert.IsType<DelimiterFraming>(front.Options.Framing);           // the spec string was bound, not dropped to raw
        Assert.Equal(10, front.Options.MaxConnections);
        Assert.Equal(TimeSpan.FromSeconds(30), front.Options.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), front.Options.StopGracePeriod);   // the host's shutdown timeout
        await back.WaitConnectedAsync().WaitAsync(TimeSpan.FromSeconds(10));

        var bus = host.Services.GetRequiredService<IMessageBus>();
        using var queue = bus.Topic<PacketGroup>(StageTopics.PacketGroup("front")).SubscribeQueue(16);
        await back.SendAsync("hello"u8.ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var group = await queue.ReadAsync(timeout.Token);
        Assert.Equal("hello", Encoding.UTF8.GetString(group[0].Payload.Span));

        var health = host.Services.GetRequiredService<HealthCheckService>();
        var report = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Status);

        await front.StopAsync();   // the listener goes down
        report = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.Contains("server stage 'front' is not listening", report.Entries["ferry"].Description);

        await host.StopAsync();
        Assert.True(FreePorts.IsFree(port));
        Assert.Empty(stages.Servers);
        Assert.False(back.IsConnected);
    }

    [Fact]
    public async Task A_bad_framing_spec_in_configuration_fails_the_start_loudly()
    {
        using var host = Build("""
            { "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Framing": "lines,on_error=explode", "MaxConections": 3 } } } }
            """);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.StartsWith("configuration 'Ferry:Stages:front:Framing': Stages.front.Framing: 'lines,on_error=explode' is not a valid framing", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("unknown key 'MaxConections' in a tcp_server stage (did you mean 'MaxConnections'?)"));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    [Fact]
    public async Task The_group_limits_bind_from_configuration_and_a_bad_one_fails_the_start_at_its_key()
    {
        using var host = Build("""
            { "Ferry": { "Stages": {
                "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "MaxGroupsPerConnection": 8, "MaxGroupNameLength": 32 },
                "back": { "Type": "tcp_client", "Config": { "connect": "127.0.0.1:1", "max_groups_per_connection": 0 } } } } }
            """);
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        Assert.Equal(8, stages.GetServer("front").Options.MaxGroupsPerConnection);
        Assert.Equal(32, stages.GetServer("front").Options.MaxGroupNameLength);
        Assert.Equal(0, stages.GetClient("back").Options.MaxGroupsPerConnection);
        Assert.Equal(256, stages.GetClient("back").Options.MaxGroupNameLength);
        await host.StopAsync();

        using var bad = Build("""
            { "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "MaxGroupsPerConnection": -5, "MaxGroupNameLength": 0 } } } }
            """);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => bad.StartAsync());
        Assert.Equal(
        [
            "configuration 'Ferry:Stages:front:MaxGroupNameLength': Stages.front.MaxGroupNameLength: '0' is not allowed; use a whole number from 1 to 65536 (characters)",
            "configuration 'Ferry:Stages:front:MaxGroupsPerConnection': Stages.front.MaxGroupsPerConnection: '-5' is not allowed; use a whole number from 0 to 2147483647 (0 = unlimited)",
        ], error.Failures.Order(StringComparer.Ordinal));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    [Fact]
    public async Task A_misspelled_configuration_section_fails_the_start_naming_the_path_and_the_section_it_looks_like()
    {
        // Before: the host started with no stage and said nothing.
        using var host = Build("""
            { "Logging": { "LogLevel": { "Default": "Warning" } },
              "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }
            """, section: "Feryy");
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal("configuration 'Feryy': Feryy: no such section, or it is empty (did you mean 'Ferry'?): AddFerry reads the stages from its Stages "
            + "and would start none; declare them there (Stages:<name>:Type, …), or call AddFerry() to run only stages added in code", Assert.Single(error.Failures));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);

        // Nothing that looks like it: no suggestion.
        using var other = Build("""{ "Logging": { "LogLevel": { "Default": "Warning" } } }""", section: "Gateway:Ferry");
        error = await Assert.ThrowsAsync<OptionsValidationException>(() => other.StartAsync());
        Assert.StartsWith("configuration 'Gateway:Ferry': Gateway:Ferry: no such section, or it is empty: AddFerry", Assert.Single(error.Failures));
    }

    [Fact]
    public async Task A_section_that_declares_no_stage_fails_the_start_unless_stages_are_added_in_code()
    {
        using var host = Build("""{ "Ferry": { "Bus": { "Type": "in_process" } } }""");
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal("configuration 'Ferry': declares no stage (no Ferry:Stages entries) and none is added in code (AddTcpServerStage, AddTcpClientStage): "
            + "the host would run nothing", Assert.Single(error.Failures));

        using var coded = Build("""{ "Ferry": { "Bus": { "Type": "in_process" } } }""", s => s.AddTcpServerStage("admin", o => o with { Bind = "127.0.0.1:0" }));
        await coded.StartAsync();
        Assert.NotNull(coded.Services.GetRequiredService<FerryStages>().GetServer("admin").LocalEndPoint);
        await coded.StopAsync();
    }

    /// <summary>
    /// A hosted server stage whose port is taken fails the host's start with the bind error, from configuration and from
    /// code alike, as <c>ferry run</c> does. Before, both retried for ever (the library's default): StartAsync never
    /// returned and the service manager saw a host that was starting for ever. <c>BindAttempts = 0</c> still asks for that.
    /// </summary>
    [Fact]
    public async Task A_hosted_server_stage_whose_port_is_taken_fails_the_start_instead_of_waiting_for_ever()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;

        using var configured = Build($$"""{ "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:{{port}}" } } } }""");
        using var coded = Build(null, s => s.AddTcpServerStage("admin", o => o with { Bind = $"127.0.0.1:{port}" }));
        foreach (var host in new[] { configured, coded })
        {
            var error = await Record.ExceptionAsync(() => host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.NotNull(error);
            Assert.IsNotType<TimeoutException>(error);
            Assert.Contains($"cannot listen on 127.0.0.1:{port}", error.Message);
        }

        var bindErrors = 0;
        using var patient = Build(null, s => s.AddTcpServerStage("patient", o => o with { Bind = $"127.0.0.1:{port}", BindAttempts = 0 })
            .ConfigureTcpServerStage("patient", (stage, _) => stage.Error += (_, e) =>
            {
                if (e.Kind == StageErrorKind.Bind)
                    Interlocked.Increment(ref bindErrors);
            }));
        var start = patient.StartAsync();
        await Poll.UntilAsync(() => Volatile.Read(ref bindErrors) >= 2, "the patient stage retried its bind");
        Assert.False(start.IsCompleted);
        taken.Dispose();
        await start.WaitAsync(TimeSpan.FromSeconds(30));
        await patient.StopAsync();
    }

    [Fact]
    public async Task Two_stages_with_one_name_are_an_error_never_a_merge()
    {
        using var host = Build("""{ "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }""",
            s => s.AddTcpServerStage("front", o => o with { Bind = "127.0.0.1:0" }));
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("stage name 'front' is already used by configuration 'Ferry:Stages:front'"));
    }

    [Fact]
    public async Task Two_hosts_on_one_bus_cannot_both_run_a_stage_of_the_same_name()
    {
        var bus = new InProcessBus();
        using var first = Build(null, s => s.AddSingleton<IMessageBus>(bus).AddTcpServerStage("shared", o => o with { Bind = "127.0.0.1:0" }));
        using var second = Build(null, s => s.AddSingleton<IMessageBus>(bus).AddTcpServerStage("shared", o => o with { Bind = "127.0.0.1:0" }));
        await first.StartAsync();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.Contains("a stage named 'shared' already runs on this bus", error.Message);
        await first.StopAsync();
    }

    [Fact]
    public async Task Stages_added_in_code_run_and_a_list_form_of_configuration_is_read_too()
    {
        using var host = Build("""{ "Ferry": { "Stages": [ { "Name": "listed", "Type": "io_tcp", "Mode": "server", "Bind": "127.0.0.1:0" } ] } }""",
            s => s.AddTcpServerStage("coded", o => o with { Bind = "127.0.0.1:0", Framing = FramingSpec.Parse("u16be") }));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        Assert.NotNull(stages.GetServer("listed").LocalEndPoint);
        Assert.IsType<DelimiterFraming>(stages.GetServer("listed").Options.Framing);   // io_tcp's default: lines split on \n
        Assert.NotNull(stages.GetServer("coded").LocalEndPoint);
        await host.StopAsync();
    }

    [Fact]
    public async Task Seed_004s_tls_block_binds_from_configuration_and_a_bad_one_fails_the_start()
    {
        using (var plain = Build("""
            { "Ferry": { "Stages": { "node": { "Type": "tcp_server", "Host": "127.0.0.1", "Port": 0, "TimeoutSeconds": 30,
              "Tls": { "Secure": false, "ServerName": null, "AcceptInvalidCertificates": false } } } } }
            """))
        {
            await plain.StartAsync();
            var node = plain.Services.GetRequiredService<FerryStages>().GetServer("node");
            Assert.Equal(TimeSpan.FromSeconds(30), node.Options.IdleTimeout);
            Assert.NotNull(node.LocalEndPoint);
            await plain.StopAsync();
        }

        using var secure = Build("""
            { "Ferry": { "Stages": { "node": { "Type": "tcp_server", "Host": "127.0.0.1", "Port": 0, "Tls": { "Secure": true, "Sni": "x" } } } } }
            """);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => secure.StartAsync());
        Assert.Contains("configuration 'Ferry:Stages:node:Tls': Stages.node.Tls.Certificate: missing key 'Certificate': a TLS server needs CertificatePem and PrivateKeyPem (or CertificateFile and PrivateKeyFile)", error.Failures);
        Assert.Contains(error.Failures, f => f.Contains("unknown key 'Sni' in the tls block"));
    }

    [Fact]
    public async Task A_tls_block_without_secure_true_fails_the_start_instead_of_serving_plain_tcp()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-host-tls-");
        try
        {
            var (cert, key) = Ferry.Transport.Tls.CertificateMaker.ToPem(TestCertificates.Server);
            System.IO.File.WriteAllText(Path.Combine(dir.FullName, "server.pem"), cert);
            System.IO.File.WriteAllText(Path.Combine(dir.FullName, "server.key"), key);
            System.IO.File.WriteAllText(Path.Combine(dir.FullName, "ca.pem"), TestCertificates.AuthorityPem);
            string File(string name) => System.Text.Json.JsonSerializer.Serialize(Path.Combine(dir.FullName, name));
            using var host = Build($$"""
                { "Ferry": { "Stages": {
                  "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0",
                    "Tls": { "Certificate": { "CertificateFile": {{File("server.pem")}}, "PrivateKeyFile": {{File("server.key")}} },
                             "CaCertificateFile": {{File("ca.pem")}}, "ClientCertificate": "required" } },
                  "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "Secure": "false", "ServerName": "gw.example" } } } } }
                """);
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
            Assert.Contains("configuration 'Ferry:Stages:front:Tls': Stages.front.Tls.Secure: missing key 'Secure': without Secure: true TLS is off (the stage would serve plain TCP), "
                + "but the block sets Certificate, CaCertificateFile, ClientCertificate: set Secure: true to serve TLS, or remove the TLS settings", error.Failures);
            Assert.Contains("configuration 'Ferry:Stages:back:Tls:Secure': Stages.back.Tls.Secure: 'false' turns TLS off (the stage would serve plain TCP), "
                + "but the block sets ServerName: set Secure: true to serve TLS, or remove the TLS settings", error.Failures);
            Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Tls_files_of_stages_declared_in_code_are_read_at_validation_and_nothing_listens_when_one_is_missing()
    {
        // Before: 'front' listened (and accepted) until 'secure' was built, and the error named no stage.
        var port = FreePorts.One();
        var listened = 0;
        using var host = Build($$"""{ "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:{{port}}" } } } }""", s => s
            .AddTcpServerStage("secure", o => o with
            {
                Bind = "127.0.0.1:0",
                Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = "/nonexistent/server.pem", PrivateKeyFile = "/nonexistent/server.key" } },
            })
            .AddTcpClientStage("upstream", o => o with { Connect = "127.0.0.1:1", Tls = new TlsOptions { Secure = true, CaCertificateFile = "/nonexistent/ca.pem" } })
            .ConfigureTcpServerStage("front", (stage, _) => stage.Listening += (_, _) => Interlocked.Increment(ref listened)));
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        // Every problem at once, each where it was declared.
        Assert.Contains(error.Failures, f => f.StartsWith("AddTcpServerStage(\"secure\"): TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read '/nonexistent/server.pem'", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("AddTcpClientStage(\"upstream\"): TcpClientStageOptions.Tls.CaCertificateFile: cannot read '/nonexistent/ca.pem'", StringComparison.Ordinal));
        Assert.Equal(0, Volatile.Read(ref listened));
        Assert.True(FreePorts.IsFree(port));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    /// <summary>Deletes a directory when the host starts its hosted services (registered before Ferry's, so it runs first).</summary>
    private sealed class DeleteAtStart(DirectoryInfo dir) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            dir.Delete(recursive: true);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Fact]
    public async Task Every_stage_is_built_before_any_starts_so_a_certificate_gone_since_validation_binds_nothing()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-host-gone-");
        var (cert, key) = Ferry.Transport.Tls.CertificateMaker.ToPem(TestCertificates.Server);
        var certFile = Path.Combine(dir.FullName, "server.pem");
        var keyFile = Path.Combine(dir.FullName, "server.key");
        System.IO.File.WriteAllText(certFile, cert);
        System.IO.File.WriteAllText(keyFile, key);
        var port = FreePorts.One();
        var listened = 0;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddHostedService(_ => new DeleteAtStart(dir));   // after validation, before the stages are built
        builder.Services
            .AddTcpServerStage("front", o => o with { Bind = $"127.0.0.1:{port}" })
            .AddTcpServerStage("secure", o => o with
            {
                Bind = "127.0.0.1:0",
                Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = certFile, PrivateKeyFile = keyFile } },
            })
            .ConfigureTcpServerStage("front", (stage, _) => stage.Listening += (_, _) => Interlocked.Increment(ref listened));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.StartsWith($"AddTcpServerStage(\"secure\"): TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read '{certFile}'", Assert.Single(error.Failures));
        Assert.Equal(0, Volatile.Read(ref listened));
        Assert.True(FreePorts.IsFree(port));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    [Fact]
    public async Task Bridge_ends_run_in_the_host_and_report_ready_in_health()
    {
        var port = FreePorts.Pair();
        using var host = Build($$"""
            { "Ferry": { "Stages": [
                { "Name": "rogue_server", "Type": "bridge_server", "Address": "127.0.0.1", "Port": {{port}} },
                { "Name": "rogue_client", "Type": "bridge_client", "Address": "127.0.0.1", "Port": {{port}}, "HandshakeTimeout": "5s" } ] } }
            """);
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        var server = stages.Bridges["rogue_server"];
        var client = stages.Bridges["rogue_client"];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await server.WaitReadyAsync(timeout.Token);
        await client.WaitReadyAsync(timeout.Token);
        await client.SendAsync(new Ferry.Bridge.Frame(new byte[] { 1, 2, 3 }, 7, 1, 0), timeout.Token);
        await foreach (var frame in server.ReadAllAsync(timeout.Token))
        {
            Assert.Equal((3, (ushort)7, (byte)1), (frame.Payload.Length, frame.Flags, frame.Channel));
            break;
        }
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Status);
        await host.StopAsync();
        Assert.False(FreePorts.Listens(port) || FreePorts.Listens(port + 1));
    }

    /// <summary>A client of <paramref name="stage"/> that never reads, with egress queued for it that cannot drain.</summary>
    private static async Task<Socket> StuckClientAsync(TcpServerStage stage)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(stage.LocalEndPoint!);
        await Poll.UntilAsync(() => stage.GetConnections().Count == 1, $"the client's connection to '{stage.Name}'");
        await stage.SendAsync(stage.GetConnections()[0].Id, new byte[4 << 20]);
        await Poll.UntilAsync(() => stage.GetConnections()[0].EgressBytesQueued > 0, $"egress queued on '{stage.Name}' for a client that does not read");
        return client;
    }

    /// <summary>Whether a connection to the loopback port is refused (nothing listens there any more).</summary>
    private static bool Refuses(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Connect(IPAddress.Loopback, port);
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task Stopping_the_host_with_a_cancelled_token_cuts_the_stages_grace_short()
    {
        // The stage's clock never moves, so its grace (the host's shutdown timeout, ten minutes) never ends by itself:
        // only the host's stop token can end the drain of egress its client never reads.
        var time = new StageTime();
        var port = FreePorts.One();
        using var host = Build(null, s => s.AddSingleton<TimeProvider>(time)
            .AddTcpServerStage("front", o => o with { Bind = $"127.0.0.1:{port}", EgressBufferBytes = 16 << 20 }), shutdownTimeout: TimeSpan.FromMinutes(10));
        await host.StartAsync();
        var front = host.Services.GetRequiredService<FerryStages>().GetServer("front");
        Assert.Equal(TimeSpan.FromMinutes(10), front.Options.StopGracePeriod);
        using var client = await StuckClientAsync(front);

        using var stop = new CancellationTokenSource();
        var stopping = host.StopAsync(stop.Token);
        await stop.CancelAsync();                                   // e.g. the service manager's stop timeout is near
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));         // before: waited out the whole grace period (here: forever)
        Assert.Equal(0, front.ConnectionCount);
        // The listener is gone. Not IsFree: the stop closed the stuck client's connection, which may wait on the port (FIN_WAIT,
        // TIME_WAIT) and make a plain bind fail; it failed once so under load in session 19.
        Assert.False(FreePorts.Listens(port));
    }

    [Fact]
    public async Task Stopping_the_host_drains_every_stage_at_once_each_for_its_own_grace_period()
    {
        var time = new StageTime();
        var (a, b) = (FreePorts.One(), FreePorts.One());
        using var host = Build(null, s => s.AddSingleton<TimeProvider>(time)
            .AddTcpServerStage("a", o => o with { Bind = $"127.0.0.1:{a}", EgressBufferBytes = 16 << 20, StopGracePeriod = TimeSpan.FromSeconds(5) })
            .AddTcpServerStage("b", o => o with { Bind = $"127.0.0.1:{b}", EgressBufferBytes = 16 << 20, StopGracePeriod = TimeSpan.FromSeconds(5) }),
            shutdownTimeout: TimeSpan.FromMinutes(10));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        using var clientA = await StuckClientAsync(stages.GetServer("a"));
        using var clientB = await StuckClientAsync(stages.GetServer("b"));

        var stopping = host.StopAsync();
        // A stage stops accepting when its stop begins: both have begun, neither has drained.
        await Poll.UntilAsync(() => Refuses(a) && Refuses(b), "both stages to begin stopping (one after the other, b would wait for a's grace)");
        Assert.False(stopping.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));                      // one grace period: both give up draining together
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_stages_own_stop_grace_period_is_kept_up_to_the_hosts_shutdown_timeout()
    {
        using var host = Build("""
            { "Ferry": { "Stages": {
                "short": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "StopGracePeriod": "1s" },
                "long":  { "Type": "tcp_server", "Bind": "127.0.0.1:0", "StopGracePeriod": "5m" },
                "unset": { "Type": "tcp_client", "Connect": "127.0.0.1:1" } } } }
            """, s => s.AddTcpServerStage("coded", o => o with { Bind = "127.0.0.1:0", StopGracePeriod = TimeSpan.FromSeconds(2) })
                .AddTcpClientStage("coded_unset", o => o with { Connect = "127.0.0.1:1" }),
            shutdownTimeout: TimeSpan.FromSeconds(20));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        Assert.Equal(TimeSpan.FromSeconds(1), stages.GetServer("short").Options.StopGracePeriod);      // before: replaced by the shutdown timeout
        Assert.Equal(TimeSpan.FromSeconds(2), stages.GetServer("coded").Options.StopGracePeriod);
        Assert.Equal(TimeSpan.FromSeconds(20), stages.GetServer("long").Options.StopGracePeriod);      // cut to what the host waits
        Assert.Equal(TimeSpan.FromSeconds(20), stages.GetClient("unset").Options.StopGracePeriod);     // not set: the shutdown timeout
        Assert.Equal(TimeSpan.FromSeconds(20), stages.GetClient("coded_unset").Options.StopGracePeriod);
        await host.StopAsync();
    }

    [Fact]
    public async Task A_hosted_stage_set_up_before_it_starts_serves_each_connection_with_a_handler_and_its_events_see_the_first_connection()
    {
        var port = FreePorts.One();
        var serverSaw = new TaskCompletionSource<ConnectedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clientSaw = new TaskCompletionSource<ConnectedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = Build($$"""
            { "Ferry": { "Stages": {
                "front": { "Type": "tcp_server", "Bind": "127.0.0.1:{{port}}", "Framing": "lines" },
                "back":  { "Type": "tcp_client", "Connect": "127.0.0.1:{{port}}", "Framing": "lines", "ReconnectWait": "50ms" } } } }
            """, s => s
            .ConfigureTcpServerStage("front", (stage, services) =>
            {
                Assert.Same(services.GetRequiredService<IMessageBus>(), stage.Bus);
                stage.Connected += (_, e) => serverSaw.TrySetResult(e);
                stage.MapConnections(async (connection, ct) =>
                {
                    await foreach (var message in connection.ReadAsync(ct))
                        await connection.SendAsync(Encoding.UTF8.GetBytes("echo " + Encoding.UTF8.GetString(message.Payload.Span)), cancellationToken: ct);
                });
            })
            .ConfigureTcpClientStage("back", (stage, _) => stage.Connected += (_, e) => clientSaw.TrySetResult(e)));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();

        // The client stage dials as soon as it starts: its first connection is the server's first, and both handlers saw it.
        var first = await serverSaw.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await clientSaw.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(first.ConnectionId, Assert.Single(stages.GetServer("front").GetConnections()).Id);

        await using var client = await FramedTestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), new FramedTestClientOptions { Framing = FramingSpec.Parse("lines") });
        await client.SendMessageAsync("hello");
        Assert.Equal("echo hello", (await client.ReceiveMessageAsync()).Text);
        await host.StopAsync();
    }

    [Fact]
    public async Task Set_up_code_for_a_stage_that_is_not_declared_fails_the_start()
    {
        using var host = Build("""{ "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }""",
            s => s.ConfigureTcpServerStage("frnt", (_, _) => { }).ConfigureTcpClientStage("front", (_, _) => { }));
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("ConfigureTcpServerStage(\"frnt\"): no server stage named 'frnt' is declared (did you mean 'front'?) (server stages: front); "
            + "declare it in configuration or with AddTcpServerStage", error.Failures);
        Assert.Contains("ConfigureTcpClientStage(\"front\"): stage 'front' (configuration 'Ferry:Stages:front') is a tcp_server stage, not a tcp_client stage; "
            + "use ConfigureTcpServerStage", error.Failures);
    }

    [Fact]
    public async Task Looking_a_stage_up_before_the_host_starts_or_after_it_stops_says_so()
    {
        using var host = Build("""{ "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }""");
        var stages = host.Services.GetRequiredService<FerryStages>();
        Assert.Equal("no server stage named 'front' yet: the host has not started its stages (they are built when it starts; "
            + "to set a stage up before it starts, use services.ConfigureTcpServerStage(\"front\", …))",
            Assert.Throws<KeyNotFoundException>(() => stages.GetServer("front")).Message);
        await host.StartAsync();
        Assert.Equal("no server stage named 'frnt' (server stages: front)", Assert.Throws<KeyNotFoundException>(() => stages.GetServer("frnt")).Message);
        await host.StopAsync();
        Assert.Equal("no client stage named 'front': the host has stopped its stages", Assert.Throws<KeyNotFoundException>(() => stages.GetClient("front")).Message);
    }
}
