namespace Ferry.Cli;

/// <summary>The streams a command uses: stdin for commands, stdout for JSON lines, stderr for logs and errors.</summary>
internal sealed record CliIo(TextReader Stdin, TextWriter Stdout, TextWriter Stderr);
