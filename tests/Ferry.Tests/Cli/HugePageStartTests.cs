using System.Diagnostics;
using System.Globalization;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// The native binary asks for transparent huge pages for the zero-filled data the runtime expands its type data into at
/// every start (src/Ferry.Cli/Native/huge_page_start.c; issue 13, the start). What the test can see without timing
/// anything: the kernel's flag for that advice (<c>hg</c> in the mapping's <c>VmFlags</c>) on the executable's
/// zero-filled mapping. Whether the kernel then found free huge pages depends on the machine, so it is reported, not
/// asserted.
/// </summary>
[Collection(AloneWithTheBinaryCollection.Name)]
public sealed class HugePageStartTests
{
    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    [HugePageFact]
    [Trait("Category", "BlackBox")]
    public async Task The_native_binary_advises_huge_pages_for_the_data_it_expands_at_start()
    {
        var native = Path.GetFullPath(CliBinary.Native!);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var serve = Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet"))!;
        try
        {
            var line = await CliBinary.ReadUntilListeningAsync(serve, timeout.Token);
            Assert.NotNull(line);

            var zeroFilled = ZeroFilledMapping(serve.Id, native);
            Assert.True(zeroFilled is not null, $"no anonymous mapping follows {native}'s last mapping in /proc/{serve.Id}/smaps");
            var (sizeKiB, flags, hugeKiB) = zeroFilled.Value;

            // The expanded type data is about 5 MB: smaller would mean this is not the mapping the runtime writes at start.
            Assert.True(sizeKiB >= 4 * 1024, $"the executable's zero-filled mapping is {sizeKiB} KiB; the expanded type data alone is about 5 MB");
            Assert.True(flags.Contains("hg", StringComparer.Ordinal),
                $"the executable's zero-filled mapping ({sizeKiB} KiB, {hugeKiB} KiB of it in huge pages) has VmFlags '{string.Join(' ', flags)}' without 'hg': " +
                "the start did not ask for huge pages (Ferry.Cli.csproj links Native/huge_page_start.c when FerryHugePageStart is true)");
        }
        finally
        {
            serve.Kill();
        }
    }

    /// <summary>
    /// The anonymous mapping that starts where the executable's last mapping ends (its zero-filled data): size, VmFlags
    /// and AnonHugePages.
    /// </summary>
    private static (long SizeKiB, string[] Flags, long HugeKiB)? ZeroFilledMapping(int pid, string executable)
    {
        ulong executableEnd = 0;
        var mappings = new List<(ulong Start, string Path, long SizeKiB, string[] Flags, long HugeKiB)>();
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-') && fields[1].Length == 4)
            {
                var range = fields[0].Split('-');
                var start = ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var end = ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var path = fields.Length == 6 ? fields[5].Trim() : "";
                if (path == executable)
                    executableEnd = Math.Max(executableEnd, end);
                mappings.Add((start, path, (long)((end - start) / 1024), [], 0));
            }
            else if (mappings.Count > 0 && fields.Length >= 1 && fields[0] == "VmFlags:")
                mappings[^1] = mappings[^1] with { Flags = fields[1..].SelectMany(f => f.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray() };
            else if (mappings.Count > 0 && fields.Length >= 2 && fields[0] == "AnonHugePages:")
                mappings[^1] = mappings[^1] with { HugeKiB = long.Parse(fields[1], CultureInfo.InvariantCulture) };
        }
        foreach (var mapping in mappings)
        {
            if (mapping.Start == executableEnd && executableEnd != 0 && mapping.Path.Length == 0)
                return (mapping.SizeKiB, mapping.Flags, mapping.HugeKiB);
        }
        return null;
    }

    /// <summary>Runs against the native binary on a kernel built with transparent huge pages.</summary>
    public sealed class HugePageFactAttribute : FactAttribute
    {
        public HugePageFactAttribute()
        {
            if (CliBinary.Native is null)
                Skip = $"needs the native binary: {CliBinary.Variable} names it (.ci/run publishes it and sets it)";
            else if (!File.Exists(ThpSetting))
                Skip = $"this kernel has no transparent huge pages ({ThpSetting} is missing): the binary's advice has nothing to ask for";
            else if (!PositionIndependent(CliBinary.Native))
                Skip = $"{CliBinary.Native} is a fixed image (-p:FerryFixedImage=true): it expands no type data at start, so it asks for no huge pages";
        }

        /// <summary>ELF e_type (bytes 16-17, little-endian): 3 is a shared object, which a position-independent executable is.</summary>
        private static bool PositionIndependent(string executable)
        {
            Span<byte> header = stackalloc byte[18];
            using var file = File.OpenRead(executable);
            file.ReadExactly(header);
            return header[16] == 3 && header[17] == 0;
        }
    }
}
