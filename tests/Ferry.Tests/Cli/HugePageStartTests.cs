using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// The native binary prepares the zero-filled data the runtime expands its type data into at every start
/// (src/Ferry.Cli/Native/huge_page_start.c; issue 13, the start): it asks for transparent huge pages, and faults the
/// rest of the <c>.hydrated</c> section in with one <c>MADV_POPULATE_WRITE</c> instead of a trap per page. What the
/// tests can see without timing anything: the kernel's flag for the first advice (<c>hg</c> in the mapping's
/// <c>VmFlags</c>), and the second call as strace sees it, over exactly that section. Whether the kernel then found free
/// huge pages depends on the machine, so it is reported, not asserted.
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

    [PopulateFact]
    [Trait("Category", "BlackBox")]
    public async Task The_native_binary_faults_its_type_data_in_with_one_call_over_that_section()
    {
        var native = Path.GetFullPath(CliBinary.Native!);
        var (address, size) = HydratedSection(native)
            ?? throw new Xunit.Sdk.XunitException($"{native} has no .hydrated section: it is not a dehydrated Native AOT build");
        var trace = Path.Combine(Path.GetTempPath(), $"ferry-populate-{Guid.NewGuid():N}.txt");
        var start = new ProcessStartInfo("strace")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-o", trace, "-e", "trace=madvise", "--", native, "serve", "--bind", "127.0.0.1:0", "--quiet" })
            start.ArgumentList.Add(arg);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var serve = Process.Start(start)!;
        try
        {
            Assert.NotNull(await CliBinary.ReadUntilListeningAsync(serve, timeout.Token));
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync(timeout.Token);
        }
        string[] calls;
        try
        {
            calls = File.ReadAllLines(trace);
        }
        finally
        {
            File.Delete(trace);
        }

        // madvise(0x55d1c0e8b000, 5087232, MADV_POPULATE_WRITE) = 0: the section's pages, from the page its first byte is
        // on to the page its last byte is on, at the load bias (a multiple of the page size).
        var populate = calls.Where(c => c.Contains("MADV_POPULATE_WRITE", StringComparison.Ordinal)).ToArray();
        Assert.True(populate.Length == 1, $"expected one MADV_POPULATE_WRITE in the start, strace saw {populate.Length}:\n{string.Join('\n', calls)}");
        var call = System.Text.RegularExpressions.Regex.Match(populate[0], @"madvise\(0x(?<at>[0-9a-f]+), (?<length>[0-9]+), MADV_POPULATE_WRITE\) = (?<result>.+)$");
        Assert.True(call.Success, $"unexpected strace line: {populate[0]}");
        const ulong page = 4096;
        var at = ulong.Parse(call.Groups["at"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var length = ulong.Parse(call.Groups["length"].Value, CultureInfo.InvariantCulture);
        var first = address & ~(page - 1);
        var end = (address + size + page - 1) & ~(page - 1);
        Assert.Equal(0UL, (at - first) % page);
        Assert.Equal(end - first, length);
        Assert.Equal("0", call.Groups["result"].Value.Trim());
    }

    /// <summary>The <c>.hydrated</c> section's address (before the load bias) and size, from the ELF section headers.</summary>
    private static (ulong Address, ulong Size)? HydratedSection(string executable)
    {
        var image = File.ReadAllBytes(executable);
        var span = image.AsSpan();
        var sectionsAt = (int)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        var count = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        var namesIndex = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3E..]);
        var namesAt = (int)BinaryPrimitives.ReadUInt64LittleEndian(span[(sectionsAt + namesIndex * entrySize + 0x18)..]);
        for (var i = 0; i < count; i++)
        {
            var header = span.Slice(sectionsAt + i * entrySize, entrySize);
            var name = span[(namesAt + (int)BinaryPrimitives.ReadUInt32LittleEndian(header))..];
            name = name[..name.IndexOf((byte)0)];
            if (name.SequenceEqual(".hydrated"u8))
                return (BinaryPrimitives.ReadUInt64LittleEndian(header[0x10..]), BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]));
        }
        return null;
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
        internal static bool PositionIndependent(string executable)
        {
            Span<byte> header = stackalloc byte[18];
            using var file = File.OpenRead(executable);
            file.ReadExactly(header);
            return header[16] == 3 && header[17] == 0;
        }
    }

    /// <summary>Runs against the native binary under strace on a kernel with <c>MADV_POPULATE_WRITE</c> (Linux 5.14).</summary>
    public sealed class PopulateFactAttribute : FactAttribute
    {
        public PopulateFactAttribute()
        {
            if (CliBinary.Native is null)
                Skip = $"needs the native binary: {CliBinary.Variable} names it (.ci/run publishes it and sets it)";
            else if (!OperatingSystem.IsLinux() || Environment.OSVersion.Version < new Version(5, 14))
                Skip = $"this kernel ({Environment.OSVersion.Version}) has no MADV_POPULATE_WRITE (Linux 5.14): the binary's call fails and changes nothing";
            else if (!HugePageFactAttribute.PositionIndependent(CliBinary.Native))
                Skip = $"{CliBinary.Native} is a fixed image (-p:FerryFixedImage=true): it expands no type data at start";
            else if (!OnPath("strace"))
                Skip = "strace is not installed (.ci/run installs it): the test watches the start's madvise calls with it";
        }

        private static bool OnPath(string program) =>
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Any(directory => File.Exists(Path.Combine(directory, program)));
    }
}
