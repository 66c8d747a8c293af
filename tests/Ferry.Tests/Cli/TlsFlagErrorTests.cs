using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// Bad files given to the TLS flags of <c>ferry serve</c> and <c>ferry connect</c>: one line naming the flag, the file and
/// the fault, exit 2, and nothing listening or dialling (they used to end in an unhandled exception, exit 134).
/// </summary>
public sealed class TlsFlagErrorTests : IClassFixture<TlsFlagErrorTests.Files>
{
    /// <summary>Certificates from <c>ferry cert</c>, made once for the class: a CA and its server cert, a second CA, its client and its CRL.</summary>
    public sealed class Files : IDisposable
    {
        private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-tlsflags-");

        public Files()
        {
            Cert("ca", "--out", P("ca"));
            Cert("server", "--ca", P("ca"), "--out", P("server"));
            Cert("ca", "--out", P("ca2"));
            Cert("server", "--ca", P("ca2"), "--out", P("other"));
            Cert("client", "--ca", P("ca2"), "--name", "x", "--out", P("x2"));
            Cert("crl", "--ca", P("ca2"), "--revoke", P("x2.pem"), "--out", P("ca2"));
            File.WriteAllText(P("garbage.pem"), "this is not PEM\n");
        }

        public string P(string name) => Path.Combine(_dir.FullName, name);

        private void Cert(params string[] args)
        {
            var err = new LineWriter();
            var code = FerryCommand.RunAsync(["cert", .. args], TextReader.Null, new LineWriter(), err, CancellationToken.None).GetAwaiter().GetResult();
            Assert.True(code == 0, $"ferry cert {string.Join(' ', args)} exited {code}: {string.Join(" ", err.Lines)}");
        }

        public void Dispose() => _dir.Delete(recursive: true);
    }

    private readonly Files _files;

    public TlsFlagErrorTests(Files files) => _files = files;

    public static TheoryData<string, string[], string[]> Cases => new()
    {
        { "serve", ["--tls-cert", "{missing.pem}", "--tls-key", "{server.key}"], ["--tls-cert '{missing.pem}' cannot be read: no such file"] },
        { "serve", ["--tls-cert", "{server.pem}", "--tls-key", "{other.key}"], ["--tls-key '{other.key}' does not match --tls-cert '{server.pem}'", "subject"] },
        { "serve", ["--tls-cert", "{garbage.pem}", "--tls-key", "{server.key}"], ["--tls-cert '{garbage.pem}' is not a PEM certificate"] },
        { "serve", ["--tls-cert", "{server.pem}", "--tls-key", "{garbage.pem}"], ["--tls-key '{garbage.pem}' is not a PEM private key"] },
        { "serve", ["--tls-cert", "{server.pem}", "--tls-key", "{server.key}", "--tls-ca", "{garbage.pem}", "--client-cert", "required"], ["--tls-ca '{garbage.pem}' holds no PEM certificate"] },
        { "serve", ["--tls-cert", "{server.pem}", "--tls-key", "{server.key}", "--tls-ca", "{ca.pem}", "--client-cert", "required", "--tls-crl", "{ca2.crl}"],
            ["--tls-crl '{ca2.crl}'", "CN="] },
        { "serve", ["--tls-cert", "{server.pem}", "--tls-key", "{server.key}", "--tls-ca", "{ca.pem}", "--client-cert", "required", "--tls-crl", "{ca.pem}"],
            ["--tls-crl '{ca.pem}' holds no PEM CRL"] },
        { "connect", ["--tls-ca", "{garbage.pem}"], ["--tls-ca '{garbage.pem}' holds no PEM certificate"] },
        { "connect", ["--tls-ca", "{missing.pem}"], ["--tls-ca '{missing.pem}' cannot be read"] },
        { "connect", ["--tls-cert", "{x2.pem}", "--tls-key", "{server.key}"], ["--tls-key '{server.key}' does not match --tls-cert '{x2.pem}'"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_tls_file_is_one_line_naming_the_flag_and_the_file_exit_2(string command, string[] flags, string[] expected)
    {
        var port = FreePorts.One();
        string[] where = command == "serve" ? ["--bind", $"127.0.0.1:{port}"] : [$"127.0.0.1:{port}"];
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var code = await FerryCommand.RunAsync([command, .. where, .. flags.Select(Resolve)], TextReader.Null, stdout, stderr, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Lines);
        Assert.StartsWith($"ferry {command}: ", line);
        foreach (var part in expected)
            Assert.Contains(Resolve(part), line);
        Assert.Empty(stdout.Lines); // no listening or connecting line: nothing was started
    }

    /// <summary>"{name}" is a file of the fixture's directory.</summary>
    private string Resolve(string text)
    {
        var open = text.IndexOf('{');
        while (open >= 0 && text.IndexOf('}', open) is var close and > 0)
        {
            text = text[..open] + _files.P(text[(open + 1)..close]) + text[(close + 1)..];
            open = text.IndexOf('{', open);
        }
        return text;
    }
}
