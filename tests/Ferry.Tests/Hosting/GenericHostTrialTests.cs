using System.Text;
using System.Text.Json;
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

/// <summary>
/// A .NET user's trial of the Generic Host: <c>AddFerry(builder.Configuration.GetSection("Ferry"))</c> over an appsettings.json with
/// a length-framed server, a TLS server whose certificate is a file, a client and the health check; then each mistake such a user
/// makes, each told what is wrong, where (the configuration path) and what is allowed, with nothing started.
/// </summary>
public sealed class GenericHostTrialTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-host-trial-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>The certificate and key files a user points the Tls block at, as JSON strings.</summary>
    private (string Certificate, string Key) CertificateFiles()
    {
        var (cert, key) = Ferry.Transport.Tls.CertificateMaker.ToPem(TestCertificates.Server);
        var certificate = Path.Combine(_dir.FullName, "server.pem");
        var privateKey = Path.Combine(_dir.FullName, "server.key");
        File.WriteAllText(certificate, cert);
        File.WriteAllText(privateKey, key);
        return (JsonSerializer.Serialize(certificate), JsonSerializer.Serialize(privateKey));
    }

    private string Appsettings(int framedPort, int tlsPort, string? framed = null, string? secure = null)
    {
        var (certificate, key) = CertificateFiles();
        return $$"""
            {
              "Ferry": {
                "Stages": {
                  "framed": { "Type": "tcp_server", "Bind": "127.0.0.1:{{framedPort}}", "Framing": "u32be", "MaxConnections": 100{{framed}} },
                  "secure": { "Type": "tcp_server", "Bind": "127.0.0.1:{{tlsPort}}", "Framing": "lines",
                              "Tls": { "Secure": true, "Certificate": { "CertificateFile": {{certificate}}, "PrivateKeyFile": {{key}} } }{{secure}} },
                  "upstream": { "Type": "tcp_client", "Connect": "127.0.0.1:{{framedPort}}", "Framing": "u32be", "ReconnectWait": "50ms" }
                }
              }
            }
            """;
    }

    private static IHost Build(string appsettings, Action<IServiceCollection>? more = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(appsettings)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        more?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>The host refuses to start; nothing listens on either port.</summary>
    private static async Task<IReadOnlyList<string>> RefusedAsync(IHost host, params int[] ports)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
        foreach (var port in ports)
            Assert.False(FreePorts.Listens(port));
        return error.Failures.ToList();
    }

    [Fact]
    public async Task The_host_runs_a_framed_server_a_tls_server_and_a_client_and_reports_healthy()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        Assert.IsType<LengthFieldFraming>(stages.GetServer("framed").Options.Framing);
        Assert.True(stages.GetServer("secure").Options.Tls?.Secure);
        var upstream = stages.GetClient("upstream");
        await upstream.WaitConnectedAsync().WaitAsync(TimeSpan.FromSeconds(10));

        using var queue = host.Services.GetRequiredService<IMessageBus>().Topic<PacketGroup>(StageTopics.PacketGroup("framed")).SubscribeQueue(16);
        await upstream.SendAsync("hello"u8.ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal("hello", Encoding.UTF8.GetString((await queue.ReadAsync(timeout.Token))[0].Payload.Span));

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Status);
        await host.StopAsync();
        Assert.False(FreePorts.Listens(framedPort));
        Assert.False(FreePorts.Listens(tlsPort));
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_is_told_the_path_and_the_numbers_allowed()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"MaxConnections\": 100", "\"MaxConnections\": \"many\""));
        Assert.Equal(
        [
            "configuration 'Ferry:Stages:framed:MaxConnections': Stages.framed.MaxConnections: 'many' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Theory]
    [InlineData("00:00:30", "30s")]
    [InlineData("00:01:30", "90s")]
    [InlineData("00:00:00.250", "250ms")]
    [InlineData("1.00:00:00", "24h")]
    public async Task A_timespan_written_the_dotnet_way_is_told_how_to_write_it(string written, string meant)
    {
        // Before: "is not a duration; use e.g. 30s, …": configuration binding takes "00:00:30" for a TimeSpan, and the user was not told why not here.
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort, framed: $", \"IdleTimeout\": \"{written}\""));
        Assert.Equal(
        [
            $"configuration 'Ferry:Stages:framed:IdleTimeout': Stages.framed.IdleTimeout: '{written}' is a .NET TimeSpan; write durations with a unit: {meant} (e.g. 30s, 500ms, 2m, 1h or 0)",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Fact]
    public async Task A_misspelled_key_is_told_the_key_it_looks_like()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort, framed: ", \"IdleTimout\": \"30s\""));
        var line = Assert.Single(await RefusedAsync(host, framedPort, tlsPort));
        Assert.StartsWith("configuration 'Ferry:Stages:framed:IdleTimout': Stages.framed.IdleTimout: unknown key 'IdleTimout' in a tcp_server stage (did you mean 'IdleTimeout'?) "
            + "(allowed: Name, Type, Mode, Config, Bind, Host, Port, Backlog, MaxConnections, Framing,", line);
    }

    [Fact]
    public async Task A_missing_certificate_file_is_told_at_its_key()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        var appsettings = Appsettings(framedPort, tlsPort);
        File.Delete(Path.Combine(_dir.FullName, "server.pem"));
        using var host = Build(appsettings);
        var line = Assert.Single(await RefusedAsync(host, framedPort, tlsPort));
        Assert.StartsWith("configuration 'Ferry:Stages:secure:Tls:Certificate:CertificateFile': Stages.secure.Tls.Certificate.CertificateFile: "
            + $"'{Path.Combine(_dir.FullName, "server.pem")}' cannot be read: ", line);
    }

    [Fact]
    public async Task Certificate_files_written_in_the_tls_block_itself_are_told_the_certificate_block()
    {
        // Before: "did you mean 'CaCertificateFile'?", which would have made the server's own certificate its CA bundle; the key got no hint.
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        var appsettings = Appsettings(framedPort, tlsPort);
        var key = CertificateFiles().Key;
        using var host = Build(appsettings.Replace("\"Certificate\": { \"CertificateFile\"", "\"CertificateFile\"")
            .Replace($"\"PrivateKeyFile\": {key} }}", $"\"PrivateKeyFile\": {key}"));
        const string Allowed = "(allowed: Secure, Certificate, CaCertificatePem, CaCertificateFile, ServerName, AcceptInvalidCertificates, ClientCertificate, HandshakeTimeout, "
            + "CertificateRevocationListPem, CertificateRevocationListFile)";
        Assert.Equal(
        [
            "configuration 'Ferry:Stages:secure:Tls:CertificateFile': Stages.secure.Tls.CertificateFile: unknown key 'CertificateFile' in the tls block: the certificate and "
                + "its key go in the tls block's own Certificate block: Certificate: {CertificateFile: …, PrivateKeyFile: …} " + Allowed,
            "configuration 'Ferry:Stages:secure:Tls:PrivateKeyFile': Stages.secure.Tls.PrivateKeyFile: unknown key 'PrivateKeyFile' in the tls block: the certificate and "
                + "its key go in the tls block's own Certificate block: Certificate: {CertificateFile: …, PrivateKeyFile: …} " + Allowed,
            "configuration 'Ferry:Stages:secure:Tls': Stages.secure.Tls.Certificate: missing key 'Certificate': a TLS server needs CertificatePem and PrivateKeyPem "
                + "(or CertificateFile and PrivateKeyFile)",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Fact]
    public async Task A_crl_of_another_ca_found_only_when_the_stage_loads_it_is_told_by_its_key_as_written()
    {
        // Before: "configuration 'Ferry:Stages:secure': option 'tls.certificate_revocation_list': …", the run files' snake_case.
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var other = Ferry.Transport.Tls.CertificateMaker.CreateAuthority("CN=Other Test CA", TimeSpan.FromDays(1));
        var crl = Ferry.Transport.Tls.CertificateMaker.CreateRevocationList(other, [], null, DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(Path.Combine(_dir.FullName, "ca.pem"), TestCertificates.AuthorityPem);
        File.WriteAllText(Path.Combine(_dir.FullName, "other.crl"), crl);
        string Json(string name) => JsonSerializer.Serialize(Path.Combine(_dir.FullName, name));
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"Secure\": true,", $"\"Secure\": true, \"ClientCertificate\": \"required\", "
            + $"\"CaCertificateFile\": {Json("ca.pem")}, \"CertificateRevocationListFile\": {Json("other.crl")},"));
        Assert.Equal(
        [
            "configuration 'Ferry:Stages:secure': Tls.CertificateRevocationList: issued by 'CN=Other Test CA', which is not in the CA bundle",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Theory]
    // One line with a "did you mean": it said "'u32eb' is not a valid framing: framing 'u32eb': unknown framing 'u32eb' (allowed: …)".
    [InlineData("length:u32be", " (did you mean 'length'? settings follow the name after ',', e.g. 'length,bytes=4')")]
    [InlineData("u32eb", " (did you mean 'u32be'?)")]
    public async Task A_framing_spec_typo_is_told_the_framings_there_are(string spec, string didYouMean)
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"Framing\": \"u32be\", \"MaxConnections\"", $"\"Framing\": \"{spec}\", \"MaxConnections\""));
        var line = Assert.Single(await RefusedAsync(host, framedPort, tlsPort));
        Assert.Equal($"configuration 'Ferry:Stages:framed:Framing': Stages.framed.Framing: '{spec}' is not a framing{didYouMean} "
            + "(allowed: delimiter, fixed, header, length, lines, mux, raw, text-length, u16be, u32be, zmtp) (see docs/framing.md)", line);
    }

    [Fact]
    public async Task The_whole_configuration_given_for_the_ferry_section_is_told_to_give_the_section()
    {
        // Before: "unknown key 'Ferry' (allowed: Stages, Bus)", and the same for the app's own Logging and AllowedHosts.
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(
            Appsettings(framedPort, tlsPort).Replace("\"Ferry\": {", "\"Logging\": { \"LogLevel\": { \"Default\": \"Warning\" } }, \"AllowedHosts\": \"*\", \"Ferry\": {"))));
        builder.Services.AddFerry(builder.Configuration);
        using var host = builder.Build();
        Assert.Equal(
        [
            "configuration 'Ferry': Ferry: holds the stages (Ferry:Stages), but AddFerry was given the whole configuration, which has no Stages of its own "
                + "(its other keys: AllowedHosts, Logging); give the section: AddFerry(builder.Configuration.GetSection(\"Ferry\"))",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Fact]
    public async Task A_stage_whose_block_has_a_problem_is_not_also_told_undeclared_to_its_set_up_code()
    {
        // Before: a second line, "ConfigureTcpServerStage("framed"): no server stage named 'framed' is declared (server stages: secure)".
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"Framing\": \"u32be\", \"MaxConnections\"", "\"Framing\": \"u32eb\", \"MaxConnections\""),
            services => services.ConfigureTcpServerStage("framed", (_, _) => { }));
        var line = Assert.Single(await RefusedAsync(host, framedPort, tlsPort));
        Assert.StartsWith("configuration 'Ferry:Stages:framed:Framing': Stages.framed.Framing: 'u32eb' is not a framing", line);
    }

    [Fact]
    public async Task Set_up_code_is_not_told_of_an_undeclared_stage_when_the_section_itself_was_wrong()
    {
        // The whole configuration given: no stage is read at all, and the one line says why; set-up code for 'framed' adds none.
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Appsettings(framedPort, tlsPort))));
        builder.Services.AddFerry(builder.Configuration);
        builder.Services.ConfigureTcpServerStage("framed", (_, _) => { });
        using var host = builder.Build();
        var line = Assert.Single(await RefusedAsync(host, framedPort, tlsPort));
        Assert.StartsWith("configuration 'Ferry': Ferry: holds the stages (Ferry:Stages), but AddFerry was given the whole configuration", line);
    }

    [Fact]
    public async Task Set_up_code_for_an_undeclared_stage_is_still_told_beside_another_stages_problem()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"Framing\": \"u32be\", \"MaxConnections\"", "\"Framing\": \"u32eb\", \"MaxConnections\""),
            services => services.ConfigureTcpServerStage("secrue", (_, _) => { }));
        var lines = await RefusedAsync(host, framedPort, tlsPort);
        Assert.True(lines.Count == 2, string.Join("\n", lines));
        Assert.Contains("no server stage named 'secrue' is declared (did you mean 'secure'?)", lines[1]);
    }

    [Fact]
    public async Task The_whole_configuration_with_many_other_keys_names_five_and_counts_the_rest()
    {
        // Before: every other key was listed, so with environment variables in the configuration (the default builder's)
        // the line named each variable of the process.
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Appsettings(framedPort, tlsPort))));
        builder.Configuration.AddInMemoryCollection(Enumerable.Range(1, 8).Select(i => KeyValuePair.Create($"VAR_{i}", (string?)"x")));
        builder.Services.AddFerry(builder.Configuration);
        using var host = builder.Build();
        Assert.Equal(
        [
            "configuration 'Ferry': Ferry: holds the stages (Ferry:Stages), but AddFerry was given the whole configuration, which has no Stages of its own "
                + "(its other keys: VAR_1, VAR_2, VAR_3, VAR_4, VAR_5 and 3 more); give the section: AddFerry(builder.Configuration.GetSection(\"Ferry\"))",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Fact]
    public async Task Two_stages_on_one_port_are_refused_before_either_listens()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace($"127.0.0.1:{tlsPort}", $"127.0.0.1:{framedPort}"));
        var line = Assert.Single(await RefusedAsync(host, framedPort));
        // Before: at the stage's block (configuration 'Ferry:Stages:secure'), not at the key to change, as ferry check says it.
        Assert.Equal($"configuration 'Ferry:Stages:secure:Bind': stage 'secure' listens on 127.0.0.1:{framedPort}, which stage 'framed' (configuration 'Ferry:Stages:framed:Bind') "
            + "already listens on; give each stage its own port", line);
    }

    [Fact]
    public async Task ValidateOnStart_fails_the_start_and_the_options_say_the_same_when_read()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"MaxConnections\": 100", "\"MaxConnections\": -1"));
        var failures = await RefusedAsync(host, framedPort, tlsPort);
        var read = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<FerryOptions>>().Value);
        Assert.Equal(failures, read.Failures);
    }

    [Fact]
    public async Task A_bad_option_in_code_is_told_its_property_with_the_configuration_problems()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort).Replace("\"MaxConnections\": 100", "\"MaxConnections\": \"many\""),
            s => s.AddTcpServerStage("admin", o => o with { Bind = "127.0.0.1:0", MaxConnections = -1, IdleTimeout = TimeSpan.FromTicks(1) }));
        Assert.Equal(
        [
            "configuration 'Ferry:Stages:framed:MaxConnections': Stages.framed.MaxConnections: 'many' is not allowed; use a whole number from 0 to 4294967295 (0 = unlimited)",
            "AddTcpServerStage(\"admin\"): TcpServerStageOptions.IdleTimeout: 0.0001ms is not allowed; must be 0 (never) or at least 1 ms",
            "AddTcpServerStage(\"admin\"): TcpServerStageOptions.MaxConnections: -1 is not allowed; must be 0 (unlimited) or more",
        ], await RefusedAsync(host, framedPort, tlsPort));
    }

    [Fact]
    public async Task Stopping_the_host_with_a_cancelled_token_stops_every_stage()
    {
        var (framedPort, tlsPort) = (FreePorts.One(), FreePorts.One());
        using var host = Build(Appsettings(framedPort, tlsPort));
        await host.StartAsync();
        var stages = host.Services.GetRequiredService<FerryStages>();
        var upstream = stages.GetClient("upstream");
        await upstream.WaitConnectedAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await host.StopAsync(new CancellationToken(canceled: true)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(FreePorts.Listens(framedPort));
        Assert.False(FreePorts.Listens(tlsPort));
        Assert.False(upstream.IsConnected);
        Assert.Empty(stages.Servers);
    }
}
