using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Ferry.Stages;

namespace Ferry.Examples;

/// <summary>A command line that cannot run: the message, one line, says what is wrong, where, and what is allowed.</summary>
internal sealed class UsageException(string message) : ArgumentException(message);

/// <summary>
/// The examples' command lines (one file linked into each example project, like <see cref="Shutdown"/>): plain
/// arguments (a command word, a file) and <c>--option value</c> pairs, each option at most once. Every value is checked
/// as it is read, so a mistyped command gets one line naming the option, the value and what is allowed, and exit code
/// 2, never a stack trace or a silently changed setting.
/// </summary>
internal sealed class CommandLine
{
    /// <summary>The exit code of a command line that cannot run (as most Unix tools have it).</summary>
    public const int UsageExitCode = 2;

    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly List<string> _arguments = [];

    /// <summary>Splits <paramref name="args"/>: each of <paramref name="options"/> takes the next word as its value;
    /// any other word starting with <c>-</c> is an unknown option.</summary>
    public CommandLine(IReadOnlyList<string> args, params string[] options)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var word = args[i];
            if (!word.StartsWith('-') || word == "-")
            {
                _arguments.Add(word);
                continue;
            }
            if (!options.Contains(word))
                throw new UsageException(options.Length == 0
                    ? $"unknown option '{word}'; this command takes no options"
                    : $"unknown option '{word}'; the options are {string.Join(", ", options)}");
            // A value may start with '-' (a negative number is reported as out of range), but not with "--":
            // "--bind --dir x" is a forgotten value, not a bind address "--dir".
            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal) || args[i + 1].Length == 0)
                throw new UsageException($"{word} needs a value");
            if (!_values.TryAdd(word, args[++i]))
                throw new UsageException($"{word} is given twice ('{_values[word]}' and '{args[i]}'); give it once");
        }
    }

    /// <summary>True when <paramref name="args"/> asks for the usage (<c>--help</c> or <c>-h</c>, anywhere).</summary>
    public static bool WantsHelp(IReadOnlyList<string> args) => args.Any(a => a is "--help" or "-h");

    /// <summary>
    /// Reads <paramref name="args"/> with <paramref name="parse"/>. <c>--help</c> prints <paramref name="usage"/> on stdout
    /// (exit code 0); a <see cref="UsageException"/> prints one line on stderr (exit code 2). False when the program
    /// should end with <paramref name="exitCode"/>.
    /// </summary>
    public static bool TryParse<T>(string program, string usage, string[] args, Func<string[], T> parse,
        [NotNullWhen(true)] out T? parsed, out int exitCode) where T : class
    {
        parsed = null;
        exitCode = 0;
        if (WantsHelp(args))
        {
            Console.Out.WriteLine(usage);
            return false;
        }
        try
        {
            parsed = parse(args);
            return true;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"{program}: {e.Message} (see {program} --help)");
            exitCode = UsageExitCode;
            return false;
        }
    }

    /// <summary>The plain arguments: exactly as many as <paramref name="names"/> (their names, for the error).</summary>
    public IReadOnlyList<string> Arguments(params string[] names)
    {
        if (_arguments.Count < names.Length)
            throw new UsageException($"{names[_arguments.Count]} is missing");
        if (_arguments.Count > names.Length)
            throw new UsageException($"unexpected argument '{_arguments[names.Length]}'");
        return _arguments;
    }

    /// <summary>The value of <paramref name="option"/>, or <paramref name="fallback"/>.</summary>
    public string Text(string option, string fallback) => _values.GetValueOrDefault(option, fallback);

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public int Number(string option, int fallback, int min, int max)
    {
        if (!_values.TryGetValue(option, out var text))
            return fallback;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new UsageException($"{option} '{text}' is not allowed; use a whole number from {min} to {max}");
        return value;
    }

    /// <summary>A number above 0 and at most <paramref name="max"/> (decimals allowed).</summary>
    public double Positive(string option, double fallback, double max)
    {
        if (!_values.TryGetValue(option, out var text))
            return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0 && value <= max))
            throw new UsageException($"{option} '{text}' is not allowed; use a number above 0 and at most {max.ToString(CultureInfo.InvariantCulture)}");
        return value;
    }

    /// <summary>One of <paramref name="allowed"/>.</summary>
    public string OneOf(string option, string fallback, params string[] allowed)
    {
        var value = Text(option, fallback);
        return allowed.Contains(value, StringComparer.Ordinal)
            ? value
            : throw new UsageException($"{option} '{value}' is not allowed; use {string.Join(" or ", allowed)}");
    }

    /// <summary>An address to listen on, checked as the stage will check it (host:port, :port or [ipv6]:port; port 0 picks a free one).</summary>
    public string ListenAddress(string option, string fallback)
    {
        var value = Text(option, fallback);
        Check(option, () => new TcpServerStageOptions { Bind = value }.Validate());
        return value;
    }

    /// <summary>An address to dial, checked as a client stage will check it (host:port or [ipv6]:port, port 1 to 65535).</summary>
    public string DialAddress(string option, string fallback)
    {
        var value = Text(option, fallback);
        Check(option, () => new TcpClientStageOptions { Connect = value }.Validate());
        return value;
    }

    /// <summary>The error of <paramref name="option"/> for a problem the library found with its setting.</summary>
    public static UsageException Invalid(string option, string problem) => new($"{option}: {WithoutSettingName(problem)}");

    // Runs the library's own check of one setting, so the command line accepts exactly what the stage will.
    private static void Check(string option, Action validate)
    {
        try
        {
            validate();
        }
        catch (StageOptionsException e)
        {
            throw Invalid(option, e.Problems.Count > 0 ? e.Problems[0] : e.Message);
        }
    }

    // The library's checks name their setting first, by its property ("TcpServerStageOptions.Bind: …", "NatsGatewayOptions.Url: …"):
    // on a command line the option's flag is the name to show instead. A problem of no setting ("stage name 'x' cannot be a NATS
    // subject token; …") is shown whole. "option 'url': …" is only what an exception made with the public constructor from a list of
    // problems carries (StageOptionsException, NatsOptionsException): the key is dropped the same way.
    private static string WithoutSettingName(string problem)
    {
        const string Prefix = "option '";
        if (problem.StartsWith(Prefix, StringComparison.Ordinal))
        {
            var quoted = problem.IndexOf("': ", Prefix.Length, StringComparison.Ordinal);
            return quoted < 0 ? problem : problem[(quoted + 3)..];
        }
        var end = problem.IndexOf(": ", StringComparison.Ordinal);
        return end > 0 && problem[..end].All(c => char.IsLetterOrDigit(c) || c == '.') ? problem[(end + 2)..] : problem;
    }
}
