using Ferry.Stages.Internal;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>
/// A file an option or a command names that cannot be read is said in words that say what to fix, not the runtime's
/// message, which repeated the path already quoted ("Could not find a part of the path '/etc/ferry/c.pem'.") without saying
/// which part is missing.
/// </summary>
public sealed class UnreadableFileTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-unreadable-");

    public void Dispose() => _files.Dispose();

    private static string WhyReading(string path)
    {
        try
        {
            File.ReadAllText(path);
        }
        catch (Exception ex)
        {
            return UnreadableFile.Why(path, ex);
        }
        throw new InvalidOperationException($"'{path}' was read");
    }

    [Fact]
    public void A_missing_file_is_no_such_file()
        => Assert.Equal("no such file", WhyReading(_files.PathOf("missing.pem")));

    [Fact]
    public void A_missing_directory_names_the_outermost_one_missing()
        => Assert.Equal($"no such directory '{_files.PathOf("etc")}'", WhyReading(_files.PathOf("etc/ferry/tls/c.pem")));

    [Fact]
    public void A_relative_path_names_the_directory_as_it_resolves()
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, _files.PathOf("nope/c.pem"));
        Assert.Equal($"no such directory '{_files.PathOf("nope")}'", WhyReading(relative));
    }

    [Fact]
    public void A_directory_is_not_a_file()
    {
        // On Linux the runtime says "Access to the path … is denied", which sends the reader after permissions.
        Directory.CreateDirectory(_files.PathOf("certs"));
        Assert.Equal("it is a directory, not a file", UnreadableFile.Why(_files.PathOf("certs"), new UnauthorizedAccessException("Access to the path is denied.")));
    }

    [Fact]
    public void Permission_denied_says_whose_permission()
        => Assert.Equal("permission denied: the user this process runs as may not read it",
            UnreadableFile.Why(_files.PathOf("secret.key"), new UnauthorizedAccessException("Access to the path is denied.")));

    [Fact]
    public void Any_other_failure_keeps_the_runtimes_words()
        => Assert.Equal("disk on fire", UnreadableFile.Why(_files.PathOf("x"), new IOException("disk on fire")));
}
