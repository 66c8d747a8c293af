namespace Ferry.Cli;

/// <summary>A command-line mistake found after parsing: printed as one line, exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
