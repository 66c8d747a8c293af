namespace Ferry.Tests.Support;

/// <summary>Files of the repository (examples/, docs/), found by walking up from the test binaries to Ferry.slnx.</summary>
public static class RepoFiles
{
    public static string Root { get; } = FindRoot();

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Ferry.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("Ferry.slnx not found above " + AppContext.BaseDirectory);
    }
}
