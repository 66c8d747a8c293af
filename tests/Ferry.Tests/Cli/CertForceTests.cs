using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>ferry cert</c> does not replace a certificate or key that exists unless told to with <c>--force</c>: a second
/// <c>ferry cert ca --out ca</c> used to overwrite the CA silently, orphaning every certificate it had signed.
/// </summary>
public sealed class CertForceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-cert-force-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    [Theory]
    [InlineData("ca", ".pem")]
    [InlineData("server", ".pem")]
    [InlineData("client", ".key")]
    [InlineData("self-signed", ".key")]
    public async Task An_existing_file_is_refused_naming_it_and_nothing_is_written(string kind, string existing)
    {
        Assert.Equal(0, (await CliRun.RunAsync("cert", "ca", "--out", P("ca"))).Code);
        var output = kind == "ca" ? P("ca") : P("leaf");
        File.WriteAllText(output + existing, "keep me");
        var other = output + (existing == ".pem" ? ".key" : ".pem");
        var before = File.Exists(other) ? File.ReadAllText(other) : null;

        var (code, stdout, stderr) = await CliRun.RunAsync(["cert", kind, "--out", output, .. kind is "server" or "client" ? new[] { "--ca", P("ca") } : []]);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal($"ferry cert: '{output}{existing}' exists; nothing was written: give --force to overwrite it, or another --out PATH", Assert.Single(stderr));
        Assert.Equal("keep me", File.ReadAllText(output + existing));
        Assert.Equal(before, File.Exists(other) ? File.ReadAllText(other) : null);
    }

    [Fact]
    public async Task Force_overwrites_both_files_and_the_key_is_owner_only_again()
    {
        Assert.Equal(0, (await CliRun.RunAsync("cert", "self-signed", "--out", P("s"))).Code);
        var first = File.ReadAllText(P("s.pem"));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(P("s.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var (code, stdout, stderr) = await CliRun.RunAsync("cert", "self-signed", "--out", P("s"), "--force");

        Assert.True(code == 0, string.Join(" ", stderr));
        Assert.Single(stdout);
        Assert.NotEqual(first, File.ReadAllText(P("s.pem")));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("s.key")));
    }

    [Fact]
    public async Task Force_is_documented_in_the_help()
    {
        var (code, stdout, _) = await CliRun.RunAsync("cert", "--help");
        Assert.Equal(0, code);
        Assert.Contains(stdout, l => l.Contains("--force") && l.Contains("overwrite"));
    }

    [Fact]
    public async Task Force_with_crl_is_refused_as_it_only_adds_to_the_list()
    {
        Assert.Equal(0, (await CliRun.RunAsync("cert", "ca", "--out", P("ca"))).Code);
        var (code, _, stderr) = await CliRun.RunAsync("cert", "crl", "--ca", P("ca"), "--out", P("ca"), "--force");
        Assert.Equal(2, code);
        Assert.StartsWith("ferry cert: --force does not apply to 'ferry cert crl'", Assert.Single(stderr));
    }
}
