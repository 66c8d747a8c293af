using System.CommandLine;
using System.CommandLine.Parsing;
using Ferry.Hosting.Settings;

namespace Ferry.Cli;

/// <summary>Turns System.CommandLine's parse errors into Ferry's one-line messages: what is wrong, and what is allowed or meant.</summary>
internal static class CliErrors
{
    /// <summary>
    /// Every mistake of the command line in one line (<c>ferry serve: A; B; C</c>): a user who typed three bad flags is told
    /// of three, not of one per try.
    /// </summary>
    public static string Describe(ParseResult result)
    {
        var command = result.CommandResult.Command;
        var prefix = command is RootCommand ? "ferry" : $"ferry {command.Name}";
        var help = command is RootCommand ? "see ferry --help" : $"see ferry {command.Name} --help";
        // A mistyped option before an argument (`--sett x=1 FILE`) is taken for the argument's value, and the parser then
        // complains of what follows it: the option is what the user got wrong, so it is what is told.
        if (command is not RootCommand && MistypedOptionAsArgument(result.CommandResult) is { } mistyped)
            return $"{prefix}: unknown option '{mistyped}'{Suggest.DidYouMean(mistyped, OptionNames(command))} ({help})";
        if (command is RootCommand && result.UnmatchedTokens.Count > 0)
        {
            var token = result.UnmatchedTokens[0];
            return $"{prefix}: unknown command '{token}'{Suggest.DidYouMean(token, CommandNames(command))} (commands: {string.Join(", ", CommandNames(command))}; {help})";
        }
        var problems = new List<string>();
        var previous = "";
        foreach (var token in result.UnmatchedTokens)
        {
            // The word after an unknown option is most likely its value (`--sett x=1`): the option is the mistake to tell.
            if (token.StartsWith('-'))
                problems.Add($"unknown option '{token}'{Suggest.DidYouMean(token, OptionNames(command))}");
            else if (!FollowsUnknownOption(result, token, previous))
                problems.Add($"unexpected argument '{token}'");
            previous = token;
        }
        var unknown = problems.Count > 0;
        if (MissingArguments(result.CommandResult) is [_, ..] missing)
            problems.Add($"needs {(missing.Length == 1 ? missing[0].Name : string.Join(", ", missing[..^1].Select(a => a.Name)) + " and " + missing[^1].Name)}");
        foreach (var error in result.Errors)
        {
            // The errors of values given and refused (the options' own parsers) and of options given without one; the
            // parser's errors for unknown tokens and a missing argument are said above in Ferry's words.
            var said = error.SymbolResult switch
            {
                OptionResult { Tokens.Count: 0 } option => $"{option.Option.Name} needs a value",
                OptionResult or ArgumentResult { Tokens.Count: > 0 } => error.Message,
                _ => null,
            };
            if (said is not null && !problems.Contains(said))
                problems.Add(said);
        }
        if (problems.Count == 0)
            problems.Add(result.Errors[0].Message);
        // What the command would have said of its flags together, had they all parsed (a bad --bind beside a bad --max-connections).
        if (ArgumentsStand(result))
        {
            var refused = result.Errors.Select(e => e.SymbolResult).OfType<OptionResult>().Select(o => o.Option.Name).ToArray();
            foreach (var problem in CommandChecks.Beside(result, refused))
                if (!problems.Contains(problem))
                    problems.Add(problem);
        }
        return $"{prefix}: {string.Join("; ", problems)}{(unknown ? $" ({help})" : "")}";
    }

    /// <summary>An argument's value spelled as an option (<c>--sett</c>, <c>-x</c>; not <c>-</c>, which names stdin), or null.</summary>
    private static string? MistypedOptionAsArgument(CommandResult result)
        => result.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value)
            .FirstOrDefault(v => v.Length > 1 && v[0] == '-' && (v[1] == '-' || char.IsAsciiLetter(v[1])));

    /// <summary>Whether <paramref name="token"/> stands right after the unmatched option <paramref name="previous"/> on the command line.</summary>
    private static bool FollowsUnknownOption(ParseResult result, string token, string previous)
    {
        if (!previous.StartsWith('-'))
            return false;
        var tokens = result.Tokens;
        for (var i = 1; i < tokens.Count; i++)
            if (tokens[i].Value == token && tokens[i - 1].Value == previous)
                return true;
        return false;
    }

    private static Argument[] MissingArguments(CommandResult result)
    {
        var given = result.Children.OfType<ArgumentResult>().Where(a => a.Tokens.Count > 0).Select(a => a.Argument).ToHashSet();
        return result.Command.Arguments.Where(a => !given.Contains(a)).ToArray();
    }

    /// <summary>Whether the command line's arguments are in place, so that what they name can be looked at despite a bad option.</summary>
    public static bool ArgumentsStand(ParseResult result)
        => MistypedOptionAsArgument(result.CommandResult) is null && MissingArguments(result.CommandResult).Length == 0
            && !result.Errors.Any(e => e.SymbolResult is ArgumentResult { Parent: CommandResult });

    private static IEnumerable<string> CommandNames(Command command) => command.Subcommands.Select(c => c.Name);

    private static IEnumerable<string> OptionNames(Command command) => command.Options.Select(o => o.Name).Where(n => n.StartsWith("--", StringComparison.Ordinal));
}
