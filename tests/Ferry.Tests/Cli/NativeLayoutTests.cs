using System.Diagnostics;
using System.Globalization;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// The native binary's code layout (src/Ferry.Cli/ferry.order, docs/benchmarks.md "Native binary, fifth
/// round"): the methods a start and an idle server run are laid out first and together, so an idle
/// <c>ferry</c> keeps less than a megabyte of its code resident instead of six. These tests read the binary
/// CI publishes (<c>FERRY_CLI_BINARY</c>) and the symbols of its debug file (<c>Ferry.Cli.dbg</c>, through
/// binutils' <c>nm</c>); without them they are skipped with the reason.
/// </summary>
[Trait("Category", "BlackBox")]
public sealed class NativeLayoutTests
{
    private const string Regenerate = "bench/startup/make-order.py ARTIFACTS/Ferry.Cli > src/Ferry.Cli/ferry.order (needs valgrind)";

    [NativeSymbolsFact]
    public void The_layout_file_names_methods_the_binary_has()
    {
        var listed = OrderFile();
        var defined = Symbols().Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var stale = listed.Where(name => !defined.Contains(name)).ToList();

        // A method the code no longer has costs only memory (ILC skips the name), but once many are stale the
        // start's methods are scattered again: regenerate the file.
        Assert.True(stale.Count <= listed.Count / 10,
            $"{stale.Count} of the {listed.Count} methods in ferry.order are not in the binary (first: {string.Join(", ", stale.Take(5))}); regenerate it: {Regenerate}");
    }

    [NativeSymbolsFact]
    public void The_listed_methods_come_first_in_the_code()
    {
        var listed = OrderFile().ToHashSet(StringComparer.Ordinal);

        // One body can carry several names (folded twins, exported aliases such as ThreadEntryPoint): a body
        // is listed when any of its names is.
        var bodies = Symbols().Where(s => s.Code).GroupBy(s => s.Address)
            .Select(g => (Address: g.Key, Listed: g.Any(s => listed.Contains(s.Name)))).ToList();
        var listedBodies = bodies.Where(b => b.Listed).Select(b => b.Address).ToList();
        Assert.NotEmpty(listedBodies);
        var firstUnlisted = bodies.Where(b => !b.Listed).Min(b => b.Address);

        // A few runtime entry points (RhThrowEx, the finalizer loop) are placed by ILC itself wherever the list says.
        var afterIt = listedBodies.Count(a => a > firstUnlisted);
        Assert.True(afterIt <= listedBodies.Count / 50,
            $"{afterIt} of {listedBodies.Count} listed methods lie after the first unlisted one (0x{firstUnlisted:x}): the order file is not applied (Ferry.Cli.csproj passes it to ILC with --order and --method-layout:explicit)");
    }

    private static List<string> OrderFile() =>
        File.ReadAllLines(RepoFiles.Path("src/Ferry.Cli/ferry.order")).Where(l => l.Length > 0).ToList();

    /// <summary>Every symbol of the managed code section, from nm (sorted by address).</summary>
    private static List<(ulong Address, string Name, bool Code)> Symbols()
    {
        var start = new ProcessStartInfo("nm") { ArgumentList = { "-n", "--defined-only", CliBinary.Native + ".dbg" }, RedirectStandardOutput = true, RedirectStandardError = true };
        using var nm = Process.Start(start)!;
        var stderr = nm.StandardError.ReadToEndAsync();
        var symbols = new List<(ulong, string, bool)>();
        bool inManagedCode = false;
        while (nm.StandardOutput.ReadLine() is { } line)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 3)
                continue;
            if (parts[2] == "__start___managedcode")
            {
                inManagedCode = true;
                continue;
            }
            if (parts[2] == "__stop___managedcode")
            {
                inManagedCode = false;
                continue;
            }
            var address = ulong.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            symbols.Add((address, parts[2], inManagedCode && parts[1] is "t" or "T"));
        }
        Assert.True(nm.WaitForExit(60_000), "nm did not finish in 60 s");
        Assert.True(nm.ExitCode == 0, $"nm failed: {stderr.Result}");
        return symbols;
    }
}

/// <summary>Runs only against the published native binary with its debug file beside it, and binutils' nm.</summary>
public sealed class NativeSymbolsFactAttribute : FactAttribute
{
    public NativeSymbolsFactAttribute()
    {
        if (CliBinary.Native is not { } native)
            Skip = $"needs the native binary: {CliBinary.Variable} names it (.ci/run publishes it and sets it)";
        else if (!File.Exists(native + ".dbg"))
            Skip = $"{native}.dbg is missing (the publish keeps the symbols beside the binary unless StripSymbols=false)";
        else if (!ExecutableOnPath("nm"))
            Skip = "nm is not installed (Debian package binutils, which the native publish needs as well)";
    }

    private static bool ExecutableOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, name)));
}
