using System.Text.RegularExpressions;
using Ferry.Cli.Pipeline;
using Ferry.Hosting.Settings;

/// <summary>
/// The <c>runfile</c> target: <c>ferry run</c>'s file reader, the way <c>RunCommand.Load</c> calls it
/// (<c>ConfigFileLoader.ReadText</c>, <c>Load</c>, then <c>PipelineReader.Read</c>, which builds the stages without
/// starting them). The first input byte's bit 0 picks the file's name (<c>.json</c> or <c>.yaml</c>); the rest is the
/// file. Beside "does not throw" it checks that the answer is either a definition and no problem, or at least one
/// problem (a definition may come with the loader's, as <c>RunCommand.Load</c> then refuses it: a key given twice), each placed at <c>file:line:column</c> (line and column from 1); and that one file never costs more than
/// <see cref="MaxAllocatedBytes"/> (AFL's time-out, <c>-t</c>, catches the minutes).
/// </summary>
internal static class RunFileTarget
{
    /// <summary>A pipeline file is at most 1 MiB; reading one may take some multiple of that, not gigabytes.</summary>
    private const long MaxAllocatedBytes = 256L << 20;

    private static readonly string Directory = System.IO.Directory.CreateTempSubdirectory("ferry-fuzz-runfile-").FullName;

    public static void Run(byte[] data)
    {
        if (data.Length == 0)
            return;
        var file = Path.Combine(Directory, (data[0] & 1) == 0 ? "p.yaml" : "p.json");
        File.WriteAllBytes(file, data[1..]);
        var before = GC.GetAllocatedBytesForCurrentThread();

        var problems = new List<SettingProblem>();
        PipelineDefinition? pipeline = null;
        string? text;
        try
        {
            text = ConfigFileLoader.ReadText(file, problems);
        }
        catch (IOException)
        {
            return; // over 1 MiB: RunCommand prints "cannot read" with the reason
        }
        var root = text is null ? null : ConfigFileLoader.Load(file, text, problems);
        // The loader gives a tree back with some problems (a key given twice: its first occurrence is read), so that the
        // reader lists the file's other problems too; the reader's definition counts only for the problems it found itself.
        var loaded = problems.Count;
        if (root is not null)
            pipeline = PipelineReader.Read(file, root, problems);

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > MaxAllocatedBytes)
            throw new InvalidOperationException($"reading a file of {data.Length - 1} bytes allocated {allocated / (1 << 20)} MiB");
        if (pipeline is null && problems.Count == 0)
            throw new InvalidOperationException("no pipeline and no problem: ferry run would say '0 problems; nothing was started'");
        if (pipeline is not null && problems.Count > loaded)
            throw new InvalidOperationException($"a pipeline despite {problems.Count - loaded} problems of its own: {problems[loaded]}");
        var at = new Regex("^" + Regex.Escape(file) + @":([1-9][0-9]*):([1-9][0-9]*)$", RegexOptions.CultureInvariant);
        foreach (var problem in problems)
        {
            if (!at.IsMatch(problem.Where))
                throw new InvalidOperationException($"a problem not placed at file:line:column: '{problem.Where}' ({problem})");
            if (string.IsNullOrWhiteSpace(problem.Message))
                throw new InvalidOperationException($"a problem without a message: {problem}");
        }
    }
}
