using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A long-running command gives its start-up's file pages back once it is up (<see cref="StartupPages"/>; issue 13,
/// idle memory): which mappings it advises, that the advice really empties them, and, against the native binary,
/// that an idle <c>ferry serve</c> keeps little of its executable resident.
/// </summary>
[Collection(AloneWithTheBinaryCollection.Name)]
public sealed class StartupPagesTests
{
    [Fact]
    public void Only_private_readable_file_mappings_are_chosen()
    {
        const string maps = """
            55d0a0000000-55d0a001e000 r--p 00000000 fe:00 12091597                   /opt/ferry/ferry
            55d0a001e000-55d0a0972000 r-xp 0001e000 fe:00 12091597                   /opt/ferry/ferry
            55d0a0972000-55d0a0e27000 r--p 00972000 fe:00 12091597                   /opt/ferry/ferry
            55d0a0e27000-55d0a0f53000 rw-p 00e27000 fe:00 12091597                   /opt/ferry/ferry
            55d0a0f53000-55d0a1440000 rw-p 00000000 00:00 0
            55d0a2000000-55d0a2021000 rw-p 00000000 00:00 0                          [heap]
            7f0000000000-7f0000001000 ---p 00000000 00:00 0
            7f0000100000-7f0000200000 r--s 00000000 00:05 4242                       /dev/shm/shared
            7f0000300000-7f0000310000 r--p 00000000 fe:00 77                         /usr/lib/with space/libx.so
            7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
            7ffd00010000-7ffd00011000 --xp 00000000 00:00 0                          [vsyscall]
            garbage line
            """;

        var chosen = StartupPages.PrivateFileMappings(maps).ToList();

        Assert.Equal(
            [
                (0x55d0a0000000UL, 0x1e000UL),
                (0x55d0a001e000UL, 0x954000UL),
                (0x55d0a0972000UL, 0x4b5000UL),
                (0x55d0a0e27000UL, 0x12c000UL),
                (0x7f0000300000UL, 0x10000UL),
            ],
            chosen);
    }

    [Fact]
    public void The_advice_empties_the_pages_only_this_process_maps()
    {
        if (!OperatingSystem.IsLinux())
            return;
        // A file of our own, written to disk (clean page-cache pages) and mapped privately and read-only by this
        // process alone, every page touched: the shape of a binary's code and read-only data after a start.
        var file = Path.Combine(Path.GetTempPath(), $"ferry-startup-pages-{Guid.NewGuid():N}.bin");
        const int length = 1024 * 1024;
        try
        {
            using (var stream = new FileStream(file, FileMode.CreateNew))
            {
                stream.Write(Enumerable.Range(0, length).Select(i => (byte)i).ToArray());
                stream.Flush(flushToDisk: true);
            }
            using var handle = File.OpenHandle(file);
            var mapping = Mmap(0, length, ProtRead, MapPrivate, (int)handle.DangerousGetHandle(), 0);
            Assert.NotEqual(-1, mapping);
            try
            {
                var sum = 0;
                for (var page = 0; page < length; page += 4096)
                    sum += Marshal.ReadByte(mapping, page);
                Assert.Equal(Enumerable.Range(0, length / 4096).Sum(p => (byte)(p * 4096)), sum);
                var before = ResidentKiB(Environment.ProcessId, file);
                Assert.True(before >= length / 1024 / 2, $"only {before} KiB of the touched 1 MiB mapping is resident");

                var advised = StartupPages.Release();

                Assert.True(advised >= length, $"{advised} bytes advised, fewer than the test's own mapping");
                var after = ResidentKiB(Environment.ProcessId, file);
                Assert.True(after < before / 4, $"{before} KiB resident before the advice, {after} KiB after");
                // Nothing is lost: the pages come back from the file on their next touch.
                Assert.Equal(0x2a, Marshal.ReadByte(mapping, 0x2a));
                Assert.Equal(0xff, Marshal.ReadByte(mapping, length - 1));
            }
            finally
            {
                Munmap(mapping, length);
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    private const int ProtRead = 1;
    private const int MapPrivate = 2;

    [DllImport("libc", EntryPoint = "mmap")]
    private static extern nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap")]
    private static extern int Munmap(nint address, nuint length);

    [NativeBinaryFact]
    [Trait("Category", "BlackBox")]
    public async Task An_idle_native_server_keeps_little_of_its_executable_resident()
    {
        var native = CliBinary.Native!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var serve = Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet"))!;
        try
        {
            var line = await CliBinary.ReadUntilListeningAsync(serve, timeout.Token);
            Assert.NotNull(line);

            // Before the release an idle server kept about 6 MB of the binary's code and read-only data (2.5 MB of
            // it the compressed type data the runtime reads once at start); after it (StartupPages.Settle after
            // listening), little more than what the idle loop touches.
            long resident = 0;
            await Poll.UntilAsync(() => (resident = ResidentKiB(serve.Id, native)) < 3 * 1024,
                "the executable's start-up pages to be given back", TimeSpan.FromSeconds(20),
                () => $"{resident} KiB of {native}'s read-only pages resident in the idle server");
        }
        finally
        {
            serve.Kill();
        }
    }

    /// <summary>Resident KiB of a process's private read-only mappings of one file.</summary>
    private static long ResidentKiB(int pid, string file)
    {
        var path = Path.GetFullPath(file);
        long kib = 0;
        var counting = false;
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-') && fields[1].Length == 4)
                counting = fields[1][1] == '-' && fields.Length == 6 && fields[5].Trim() == path;
            else if (counting && fields.Length >= 2 && fields[0] == "Rss:")
                kib += long.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        return kib;
    }
}

/// <summary>Runs only against the published native binary (under <c>dotnet</c> the executable is the host's).</summary>
public sealed class NativeBinaryFactAttribute : FactAttribute
{
    public NativeBinaryFactAttribute()
    {
        if (CliBinary.Native is null)
            Skip = $"needs the native binary: {CliBinary.Variable} names it (.ci/run publishes it and sets it)";
    }
}
