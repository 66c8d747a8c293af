using System.Security.Cryptography.X509Certificates;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary><c>ferry cert</c> and the TLS flags of <c>ferry serve</c> and <c>ferry connect</c>.</summary>
public sealed class CertCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-cert-");

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static async Task Cert(params string[] args)
    {
        var err = new LineWriter();
        var code = await FerryCommand.RunAsync(["cert", .. args], TextReader.Null, new LineWriter(), err, CancellationToken.None);
        Assert.True(code == 0, $"ferry cert {string.Join(' ', args)} exited {code}: {string.Join(" ", err.Lines)}");
    }

    [Theory]
    [InlineData("foo", "")]
    [InlineData("sever", " (did you mean 'server'?)")]
    [InlineData("self_signed", " (did you mean 'self-signed'?)")]
    public async Task An_unknown_kind_is_one_line_with_the_kinds_and_a_suggestion(string kind, string suggestion)
    {
        // Before: System.CommandLine's "Argument 'foo' not recognized. Must be one of:" with one kind per line, and no suggestion.
        var (code, stdout, stderr) = await CliRun.RunAsync("cert", kind, "--out", P("x"));
        Assert.Equal(2, code);
        Assert.Equal($"ferry cert: kind '{kind}' is not allowed{suggestion}; use ca, server, client, self-signed or crl", Assert.Single(stderr));
        Assert.Empty(stdout);
        Assert.Empty(_dir.GetFiles());
    }

    [Fact]
    public async Task Cert_makes_a_ca_and_server_and_client_certificates_that_chain_to_it()
    {
        await Cert("ca", "--out", P("ca"));
        await Cert("server", "--ca", P("ca"), "--name", "localhost", "--name", "127.0.0.1", "--out", P("server"));
        await Cert("client", "--ca", P("ca"), "--name", "terminal-9", "--out", P("client"));
        var ca = X509CertificateLoader.LoadCertificateFromFile(P("ca.pem"));
        var server = X509Certificate2.CreateFromPemFile(P("server.pem"), P("server.key"));
        var client = X509Certificate2.CreateFromPemFile(P("client.pem"), P("client.key"));
        Assert.True(server.HasPrivateKey && client.HasPrivateKey);
        Assert.Equal("CN=terminal-9", client.Subject);
        Assert.True(server.MatchesHostname("localhost"));
        foreach (var leaf in new[] { server, client })
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            Assert.True(chain.Build(leaf), $"{leaf.Subject} does not chain to the CA");
        }
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("server.key")));
    }

    [Fact]
    public async Task A_certificate_the_crl_already_lists_is_not_listed_again_and_the_line_says_so()
    {
        await Cert("ca", "--out", P("ca"));
        await Cert("client", "--ca", P("ca"), "--name", "lost", "--out", P("lost"));
        await Cert("client", "--ca", P("ca"), "--name", "stolen", "--out", P("stolen"));
        await Cert("crl", "--ca", P("ca"), "--revoke", P("lost.pem"), "--out", P("ca"));

        // 'lost' again, and 'stolen' twice in one call: each serial once in the list, and the line counts what is new.
        var stdout = new LineWriter();
        var err = new LineWriter();
        var code = await FerryCommand.RunAsync(["cert", "crl", "--ca", P("ca"), "--revoke", P("lost.pem"), "--revoke", P("stolen.pem"),
            "--revoke", P("stolen.pem"), "--out", P("ca")], TextReader.Null, stdout, err, CancellationToken.None);

        Assert.True(code == 0, string.Join(" ", err.Lines));
        Assert.StartsWith("crl signed by CN=Ferry CA, 1 certificate newly revoked (1 already listed), ", Assert.Single(stdout.Lines));
        var listed = CertificateRevocationListBuilder.LoadPem(File.ReadAllText(P("ca.crl")), out _);
        foreach (var name in new[] { "lost", "stolen" })
        {
            var serial = X509CertificateLoader.LoadCertificateFromFile(P(name + ".pem")).SerialNumberBytes.Span;
            Assert.True(listed.RemoveEntry(serial), $"{name} is listed");
            Assert.False(listed.RemoveEntry(serial), $"{name} is listed once");
        }
    }

    [Fact]
    public async Task Cert_says_what_is_missing()
    {
        var err = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["cert", "server", "--out", P("x")], TextReader.Null, new LineWriter(), err, CancellationToken.None));
        Assert.Contains(err.Lines, l => l.Contains("needs --ca"));
    }

    [Fact]
    public async Task Serve_and_connect_talk_mutual_tls_with_certificates_from_ferry_cert()
    {
        await Cert("ca", "--out", P("ca"));
        await Cert("server", "--ca", P("ca"), "--out", P("server"));
        await Cert("client", "--ca", P("ca"), "--name", "terminal-9", "--out", P("client"));
        int port = FreePorts.One();
        using var stop = new CancellationTokenSource();
        var serveOut = new LineWriter();
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", $"127.0.0.1:{port}", "--framing", "lines",
            "--tls-cert", P("server.pem"), "--tls-key", P("server.key"), "--tls-ca", P("ca.pem"), "--client-cert", "required"],
            new QueueReader(), serveOut, new LineWriter(), stop.Token));
        await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");

        var connectIn = new QueueReader();
        var connectOut = new LineWriter();
        var connect = Task.Run(() => FerryCommand.RunAsync(["connect", $"127.0.0.1:{port}", "--framing", "lines",
            "--tls-ca", P("ca.pem"), "--tls-server-name", "localhost", "--tls-cert", P("client.pem"), "--tls-key", P("client.key")],
            connectIn, connectOut, new LineWriter(), stop.Token));
        await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected over mutual TLS");
        var atServer = await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "the server's connected line");
        Assert.Equal("CN=terminal-9", atServer.GetProperty("tls").GetProperty("peer_subject").GetString());
        Assert.StartsWith("Tls1", atServer.GetProperty("tls").GetProperty("protocol").GetString());
        connectIn.Send("hello over mtls");
        var packet = await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "the line at the server");
        Assert.Equal("hello over mtls", packet.GetProperty("text").GetString());

        stop.Cancel();
        Assert.Equal(0, await connect.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Serve_with_insecure_accepts_a_client_certificate_of_another_ca_and_holds_clients_to_its_server_name()
    {
        await Cert("ca", "--out", P("ca"));
        await Cert("server", "--ca", P("ca"), "--name", "localhost", "--out", P("server"));
        await Cert("ca", "--out", P("stranger-ca"));
        await Cert("client", "--ca", P("stranger-ca"), "--name", "bench-rig", "--out", P("client"));
        int port = FreePorts.One();
        using var stop = new CancellationTokenSource();
        var serveOut = new LineWriter();
        var serveErr = new LineWriter();
        // No --tls-ca: accepting any client certificate needs none.
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", $"127.0.0.1:{port}", "--framing", "lines",
            "--tls-cert", P("server.pem"), "--tls-key", P("server.key"), "--client-cert", "required", "--insecure", "--tls-server-name", "localhost"],
            new QueueReader(), serveOut, serveErr, stop.Token));
        await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        Assert.Contains(serveErr.Lines, l => l.Contains("accept_invalid_certificates", StringComparison.Ordinal));

        var connectOut = new LineWriter();
        var connect = Task.Run(() => FerryCommand.RunAsync(["connect", $"127.0.0.1:{port}", "--framing", "lines",
            "--tls-ca", P("ca.pem"), "--tls-server-name", "localhost", "--tls-cert", P("client.pem"), "--tls-key", P("client.key")],
            new QueueReader(), connectOut, new LineWriter(), stop.Token));
        await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected with an untrusted client certificate");
        var atServer = await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "the server's connected line");
        Assert.Equal("CN=bench-rig", atServer.GetProperty("tls").GetProperty("peer_subject").GetString());

        stop.Cancel();
        Assert.Equal(0, await connect.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Serve_says_what_its_server_name_and_insecure_flags_need()
    {
        await Cert("ca", "--out", P("ca"));
        await Cert("server", "--ca", P("ca"), "--name", "localhost", "--out", P("server"));

        var (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", P("server.pem"), "--tls-key", P("server.key"), "--insecure");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal("ferry serve: --insecure on a server accepts client certificates that fail their checks, and needs --client-cert required|optional "
            + "(without it no client certificate is asked for)", Assert.Single(stderr));

        (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", P("server.pem"), "--tls-key", P("server.key"), "--client-cert", "optional");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --client-cert required|optional needs --tls-ca (the CA client certificates must chain to), or --insecure to accept any (development only)",
            Assert.Single(stderr));

        (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", P("server.pem"), "--tls-key", P("server.key"), "--tls-server-name", "gw.example.com");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.StartsWith("ferry serve: --tls-server-name: 'gw.example.com' is not a name of the server's certificate (", Assert.Single(stderr));
        Assert.Contains("names localhost", stderr[0]);

        // --insecure makes --tls-ca unneeded for the certificates, not for a CRL: a revoked certificate is still refused.
        await Cert("crl", "--ca", P("ca"), "--out", P("ca"));
        (code, _, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", P("server.pem"), "--tls-key", P("server.key"),
            "--client-cert", "required", "--insecure", "--tls-crl", P("ca.crl"));
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --tls-crl needs --tls-ca, the CA whose list it is (with --insecure too: a revoked certificate is still refused)", Assert.Single(stderr));

        (code, _, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", P("server.pem"), "--tls-key", P("server.key"), "--tls-server-name", "gw example.com");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --tls-server-name 'gw example.com' is not a DNS name or an IP address, so no client could reach the server by it; "
            + "give the name clients dial, which the server's certificate carries, e.g. gw.example.com", Assert.Single(stderr));
    }

    [Fact]
    public async Task Serve_refuses_half_a_certificate()
    {
        var err = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["serve", "--tls-cert", P("server.pem")], TextReader.Null, new LineWriter(), err, CancellationToken.None));
        Assert.Contains(err.Lines, l => l.Contains("--tls-cert and --tls-key go together"));
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
