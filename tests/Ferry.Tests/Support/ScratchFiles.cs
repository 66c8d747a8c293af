namespace Ferry.Tests.Support;

/// <summary>
/// A test's own temporary directory for the files it writes (pipeline files, certificates), deleted with the test: every
/// test class gets a fresh one, so tests running side by side never read each other's files.
/// </summary>
public sealed class ScratchFiles(string prefix) : IDisposable
{
    /// <summary>The directory's full path.</summary>
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>The path of <paramref name="name"/> in the directory (the file need not exist).</summary>
    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>Writes <paramref name="text"/> to <paramref name="name"/> in the directory; its path.</summary>
    public string Write(string name, string text)
    {
        var path = PathOf(name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
