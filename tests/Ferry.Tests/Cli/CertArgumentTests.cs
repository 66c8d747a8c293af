using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// ferry cert refuses an --out that would write files nobody asked for, and a server --name no client could match, before
/// it makes a key.
/// </summary>
public sealed class CertArgumentTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-certargs-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public async Task An_out_path_with_the_extension_is_refused_not_written_as_name_pem_pem()
    {
        // Before: exit 0, server.pem.pem and server.pem.key.
        Assert.Equal(0, (await CliRun.RunAsync("cert", "ca", "--out", P("ca"))).Code);
        var (code, _, stderr) = await CliRun.RunAsync("cert", "server", "--ca", P("ca"), "--out", P("server.pem"));
        Assert.Equal(2, code);
        Assert.Equal($"ferry cert: --out '{P("server.pem")}' would write {P("server.pem")}.pem and {P("server.pem")}.key; give the PATH without the extension, --out {P("server")}",
            Assert.Single(stderr));
        (code, _, stderr) = await CliRun.RunAsync("cert", "crl", "--ca", P("ca"), "--out", P("ca.crl"));
        Assert.Equal(2, code);
        Assert.Equal($"ferry cert: --out '{P("ca.crl")}' would write {P("ca.crl")}.crl; give the PATH without the extension, --out {P("ca")}", Assert.Single(stderr));
        Assert.Equal(["ca.key", "ca.pem"], _dir.GetFiles().Select(f => f.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_out_path_that_is_a_directory_or_in_a_missing_one_is_refused_naming_the_flag()
    {
        // Before: a directory wrote the hidden files DIR/.pem and DIR/.key (exit 0); a missing directory was
        // "ferry cert: Could not find a part of the path '…/s.pem'." (exit 1), naming no flag.
        var (code, _, stderr) = await CliRun.RunAsync("cert", "self-signed", "--out", _dir.FullName);
        Assert.Equal(2, code);
        var example = Path.Combine(_dir.FullName, "server");
        Assert.Equal($"ferry cert: --out '{_dir.FullName}' names a directory; give a PATH in it without an extension, e.g. --out {example} (writes {example}.pem and {example}.key)",
            Assert.Single(stderr));
        (code, _, stderr) = await CliRun.RunAsync("cert", "self-signed", "--out", P("missing/s"));
        Assert.Equal(2, code);
        Assert.Equal($"ferry cert: --out '{P("missing/s")}': the directory '{P("missing")}' does not exist; create it first or give another PATH", Assert.Single(stderr));
        Assert.Empty(_dir.GetFiles());
    }

    [Theory]
    [InlineData("gw example.com")]
    [InlineData("localhost,127.0.0.1")]
    [InlineData("bad_name!")]
    public async Task A_server_name_that_is_neither_a_dns_name_nor_an_address_is_refused(string name)
    {
        // Before: exit 0 and a certificate whose name no client could ask for.
        var (code, _, stderr) = await CliRun.RunAsync("cert", "self-signed", "--name", "localhost", "--name", name, "--out", P("s"));
        Assert.Equal(2, code);
        Assert.Equal($"ferry cert: --name '{name}' is not a DNS name or an IP address, so no client could match it; use e.g. --name localhost --name 127.0.0.1 --name gw.example.com (or a wildcard, *.example.com)",
            Assert.Single(stderr));
        Assert.Empty(_dir.GetFiles());
    }

    [Fact]
    public async Task Wildcards_ipv6_addresses_and_a_clients_free_text_name_are_still_taken()
    {
        Assert.Equal(0, (await CliRun.RunAsync("cert", "self-signed", "--name", "*.example.com", "--name", "::1", "--name", "gw-1.example.com", "--out", P("w"))).Code);
        Assert.Equal(0, (await CliRun.RunAsync("cert", "ca", "--name", "Ferry Test CA", "--out", P("ca"))).Code);
        Assert.Equal(0, (await CliRun.RunAsync("cert", "client", "--ca", P("ca"), "--name", "terminal 7 (shop)", "--out", P("c"))).Code);
    }
}
