using System.CommandLine;
using System.CommandLine.Parsing;
using Ferry.Hosting.Settings;

namespace Ferry.Cli;

/// <summary>Turns System.CommandLine's parse errors into Ferry's one-line messages: what is wrong, and what is allowed or meant.</summary>
internal static class CliErrors
{
    public static string Describe(ParseResult result)
    {
        var command = result.CommandResult.Command;
        var prefix = command is RootCommand ? "ferry" : $"ferry {command.Name}";
        var help = command is RootCommand ? "see ferry --help" : $"see ferry {command.Name} --help";
        // A mistyped option before an argument (`--sett x=1 FILE`) is taken for the argument's value, and the parser then
        // complains of what follows it: the option is what the user got wrong, so it is what is told.
        if (command is not RootCommand && MistypedOptionAsArgument(result.CommandResult) is { } mistyped)
            return $"{prefix}: unknown option '{mistyped}'{Suggest.DidYouMean(mistyped, OptionNames(command))} ({help})";
        foreach (var token in result.UnmatchedTokens)
        {
            if (command is RootCommand)
                return $"{prefix}: unknown command '{token}'{Suggest.DidYouMean(token, CommandNames(command))} (commands: {string.Join(", ", CommandNames(command))}; {help})";
            if (token.StartsWith('-'))
                return $"{prefix}: unknown option '{token}'{Suggest.DidYouMean(token, OptionNames(command))} ({help})";
            return $"{prefix}: unexpected argument '{token}' ({help})";
        }
        if (MissingArgument(result.CommandResult) is { } missing)
            return $"{prefix}: needs {missing.Name} ({help})";
        var error = result.Errors[0];
        if (error.SymbolResult is OptionResult { Tokens.Count: 0 } option)
            return $"{prefix}: {option.Option.Name} needs a value";
        return $"{prefix}: {error.Message}";
    }

    /// <summary>An argument's value spelled as an option (<c>--sett</c>, <c>-x</c>; not <c>-</c>, which names stdin), or null.</summary>
    private static string? MistypedOptionAsArgument(CommandResult result)
        => result.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value)
            .FirstOrDefault(v => v.Length > 1 && v[0] == '-' && (v[1] == '-' || char.IsAsciiLetter(v[1])));

    private static Argument? MissingArgument(CommandResult result)
    {
        var given = result.Children.OfType<ArgumentResult>().Where(a => a.Tokens.Count > 0).Select(a => a.Argument).ToHashSet();
        return result.Command.Arguments.FirstOrDefault(a => !given.Contains(a));
    }

    private static IEnumerable<string> CommandNames(Command command) => command.Subcommands.Select(c => c.Name);

    private static IEnumerable<string> OptionNames(Command command) => command.Options.Select(o => o.Name).Where(n => n.StartsWith("--", StringComparison.Ordinal));
}
