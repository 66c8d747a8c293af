using System.Collections;

namespace Ferry.Cli;

/// <summary>The streams a command uses (stdin for commands, stdout for JSON lines, stderr for logs and errors) and the environment it reads overrides from.</summary>
internal sealed record CliIo(TextReader Stdin, TextWriter Stdout, TextWriter Stderr, IReadOnlyDictionary<string, string>? Environment = null)
{
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
