using System.Collections;

namespace Ferry.Cli;

/// <summary>The streams a command uses (stdin for commands, stdout for JSON lines, stderr for logs and errors) and the environment it reads overrides from.</summary>
/// <param name="GivenStdin">The reader for commands; null for the process's stdin, made only when a command first reads it.</param>
/// <param name="Stdout">Where the JSON lines go.</param>
/// <param name="Stderr">Where logs and errors go.</param>
/// <param name="Environment">The variables for <c>FERRY__…</c> overrides; null for the process's.</param>
internal sealed record CliIo(TextReader? GivenStdin, TextWriter Stdout, TextWriter Stderr, IReadOnlyDictionary<string, string>? Environment = null)
{
    /// <summary>
    /// The reader for commands. The process's <see cref="Console.In"/> is made here, on first use, not at start: making it
    /// (the terminal's settings, a decoder, a buffer) was 0.7 % of a start's CPU, on the way to listening, for a server whose
    /// stdin is read later on its own task, or never.
    /// </summary>
    public TextReader Stdin => GivenStdin ?? Console.In;

    /// <summary>Whether <see cref="Stdout"/> writes to the process's own stdout (descriptor 1), as from <c>Program</c>; not in-process runs.</summary>
    public bool StdoutIsProcess { get; init; }

    /// <summary>The given environment, or the process's.</summary>
    public IReadOnlyDictionary<string, string> Variables => Environment ?? ProcessEnvironment();

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
            if (entry.Key is string key && entry.Value is string value)
                variables[key] = value;
        return variables;
    }
}
