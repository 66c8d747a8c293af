using System.Net;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry cert</c>'s <c>--out</c> and <c>--name</c> checked before a key is made: mistakes that used to produce files
/// nobody asked for (<c>--out server.pem</c> wrote server.pem.pem; <c>--out certs/</c> wrote the hidden certs/.pem) or a
/// server certificate no client could match (<c>--name "gw example.com"</c>).
/// </summary>
internal static class CertArguments
{
    /// <summary>Refuses a PATH that is a directory, ends with the extension the command adds, or is in a directory that does not exist.</summary>
    /// <param name="output">--out as given.</param>
    /// <param name="extensions">The extensions the command appends (.pem and .key, or .crl).</param>
    /// <exception cref="CliException">What is wrong with it and what to give instead.</exception>
    public static void CheckOutput(string output, params string[] extensions)
    {
        if (output.Length == 0 || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar) || Directory.Exists(output))
        {
            var example = Path.Combine(output, extensions.Contains(".crl") ? "ca" : "server");
            throw new CliException($"--out '{output}' names a directory; give a PATH in it without an extension, e.g. --out {example} (writes {string.Join(" and ", extensions.Select(e => example + e))})");
        }
        foreach (var extension in extensions)
            if (output.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            {
                var stem = output[..^extension.Length];
                throw new CliException($"--out '{output}' would write {string.Join(" and ", extensions.Select(e => output + e))}; give the PATH without the extension, --out {stem}");
            }
        var directory = Path.GetDirectoryName(Path.GetFullPath(output));
        if (directory is not null && !Directory.Exists(directory))
            throw new CliException($"--out '{output}': the directory '{directory}' does not exist; create it first or give another PATH");
    }

    /// <summary>Refuses a server certificate's name that is neither an IP address nor a DNS name (a wildcard <c>*.</c> first label allowed).</summary>
    /// <exception cref="CliException">The first name that is neither, and what is allowed.</exception>
    public static void CheckServerNames(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            var host = name.StartsWith("*.", StringComparison.Ordinal) ? name[2..] : name;
            if (IPAddress.TryParse(name, out _) || Ferry.Stages.Internal.HostNameText.IsDnsName(host))
                continue;
            throw new CliException($"--name '{name}' is not a DNS name or an IP address, so no client could match it; use e.g. --name localhost --name 127.0.0.1 --name gw.example.com (or a wildcard, *.example.com)");
        }
    }

    /// <summary>Refuses to replace a key or certificate that exists: a second 'ferry cert ca' would silently orphan every certificate the old CA signed.</summary>
    /// <exception cref="CliException">The first of <paramref name="paths"/> that exists, and how to overwrite it on purpose.</exception>
    public static void CheckNotThere(params string[] paths)
    {
        foreach (var path in paths)
            if (File.Exists(path) || Directory.Exists(path))
                throw new CliException($"'{path}' exists; nothing was written: give --force to overwrite it, or another --out PATH");
    }
}
