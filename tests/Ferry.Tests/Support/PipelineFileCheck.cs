using Ferry.Cli;
using Ferry.Cli.Pipeline;

namespace Ferry.Tests.Support;

/// <summary>Reads a pipeline file as <c>ferry check</c> does, in process: the definition, or null, and its stderr lines.</summary>
internal static class PipelineFileCheck
{
    /// <summary>
    /// Loads <paramref name="file"/> with no overrides and no environment; the path in each stderr line is replaced by
    /// <paramref name="shownAs"/> so that expected messages do not depend on the temporary folder.
    /// </summary>
    public static (PipelineDefinition? Pipeline, List<string> Err) Load(string file, string shownAs)
    {
        var stderr = new LineWriter();
        var pipeline = RunCommand.Load(file, [], new CliIo(TextReader.Null, new LineWriter(), stderr, new Dictionary<string, string>()), "check");
        return (pipeline, stderr.Lines.Select(l => l.Replace(file, shownAs, StringComparison.Ordinal)).ToList());
    }
}
