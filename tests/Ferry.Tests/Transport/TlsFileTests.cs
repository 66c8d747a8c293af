using System.IO.Pipes;
using Ferry.Tests.Support;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Transport;

/// <summary>
/// TLS files are read with a bound and only when they are regular files: a wrong path (a device, a huge file, a pipe) costs a
/// clear error, never the process. Before, <c>ferry check</c> with <c>certificate_file: /dev/zero</c> grew without end and a
/// 3 GiB file ended in "Out of memory." (exit 134); a pipe was read empty the second time and blamed on the certificate.
/// </summary>
public sealed class TlsFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-tlsfile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Sparse(string name, long length)
    {
        var path = Path.Combine(_dir, name);
        using var file = new FileStream(path, FileMode.CreateNew);
        file.SetLength(length);
        return path;
    }

    [Fact]
    public void A_file_within_the_bound_reads_whole_as_text_without_its_byte_order_mark()
    {
        var path = Path.Combine(_dir, "server.pem");
        File.WriteAllText(path, TestCertificates.AuthorityPem, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        Assert.Equal(TestCertificates.AuthorityPem, TlsFile.ReadText(path));
        var exactly = Sparse("exactly.pem", TlsFile.MaxBytes);
        Assert.Equal(TlsFile.MaxBytes, TlsFile.ReadBytes(exactly).Length);
    }

    [Fact]
    public void A_file_over_the_bound_is_refused_saying_the_bound()
    {
        var path = Sparse("huge.pem", TlsFile.MaxBytes + 1L);
        var ex = Assert.Throws<IOException>(() => TlsFile.ReadText(path));
        Assert.Equal("it is larger than 16777216 bytes (16 MiB), the limit for a TLS file", ex.Message);
    }

    [Fact]
    public void A_device_that_reads_for_ever_is_refused_not_read_until_memory_runs_out()
    {
        var ex = Assert.Throws<IOException>(() => TlsFile.ReadBytes("/dev/zero"));
        Assert.True(ex.Message.StartsWith("it is not a regular file", StringComparison.Ordinal) || ex.Message.StartsWith("it is larger than", StringComparison.Ordinal), ex.Message);
    }

    [Fact]
    public void A_pipe_is_refused_as_it_could_be_read_only_once()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.None);
        server.Write(System.Text.Encoding.ASCII.GetBytes(TestCertificates.AuthorityPem));
        var ex = Assert.Throws<IOException>(() => TlsFile.ReadText($"/proc/self/fd/{server.ClientSafePipeHandle.DangerousGetHandle()}"));
        Assert.StartsWith("it is not a regular file (a pipe or a device)", ex.Message);
    }
}
