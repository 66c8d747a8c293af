namespace Ferry.Stages.Internal;

/// <summary>
/// Why a file an option or a command names could not be read, in words that say what to fix. The runtime's own messages
/// repeat the path the caller already quotes ("cannot read '/etc/ferry/c.pem': Could not find a part of the path
/// '/etc/ferry/c.pem'.") and do not say which part is missing, or send the reader after the wrong cause.
/// </summary>
internal static class UnreadableFile
{
    /// <summary>Why <paramref name="path"/> could not be read, from the exception reading it threw.</summary>
    public static string Why(string path, Exception ex) => ex switch
    {
        FileNotFoundException => "no such file",
        DirectoryNotFoundException => MissingDirectory(path) is { } missing ? $"no such directory '{missing}'" : "no such file or directory",
        UnauthorizedAccessException when Directory.Exists(path) => "it is a directory, not a file",
        UnauthorizedAccessException => "permission denied: the user this process runs as may not read it",
        PathTooLongException => "the path is too long",
        _ => ex.Message,
    };

    /// <summary>The outermost directory on the way to <paramref name="path"/> that does not exist; null when each does (or the path is not one).</summary>
    private static string? MissingDirectory(string path)
    {
        try
        {
            string? missing = null;
            for (var directory = Path.GetDirectoryName(Path.GetFullPath(path)); !string.IsNullOrEmpty(directory) && !Directory.Exists(directory);
                 directory = Path.GetDirectoryName(directory))
                missing = directory;
            return missing;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException or System.Security.SecurityException)
        {
            return null;
        }
    }
}
