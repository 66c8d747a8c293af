using System.Globalization;

namespace Ferry.Cli;

/// <summary>A small, strict reader of <c>--flag value</c> arguments: unknown or malformed flags are errors that name themselves.</summary>
internal sealed class CliArguments
{
    private readonly string[] _args;
    private int _index;

    public CliArguments(string[] args) => _args = args;

    public bool TryNext(out string flag)
    {
        if (_index >= _args.Length)
        {
            flag = "";
            return false;
        }
        flag = _args[_index++];
        return true;
    }

    public string Value(string flag)
    {
        if (_index >= _args.Length)
            throw new CliException($"{flag} needs a value");
        return _args[_index++];
    }

    public int Int(string flag, int min, int max)
    {
        var text = Value(flag);
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new CliException($"{flag} '{text}' is not allowed; use a whole number from {min} to {max}");
        return value;
    }

    public TimeSpan Duration(string flag)
    {
        var text = Value(flag);
        return ParseDuration(text) ?? throw new CliException($"{flag} '{text}' is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0");
    }

    public Microsoft.Extensions.Logging.LogLevel LogLevel(string flag)
    {
        var text = Value(flag);
        if (!Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(text, ignoreCase: true, out var level) || !Enum.IsDefined(level))
            throw new CliException($"{flag} '{text}' is not allowed; use trace, debug, information, warning, error, critical or none");
        return level;
    }

    /// <summary>Parses <c>500ms</c>, <c>30s</c>, <c>2m</c>, <c>1h</c>, or a plain number of seconds.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        text = text.Trim();
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || double.IsInfinity(value))
            return null;
        return TimeSpan.FromSeconds(value * scale);
    }
}

/// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
