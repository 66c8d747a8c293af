using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Ferry.Framing;
using Ferry.Hosting.Settings;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// Typed options with Ferry's parsers: each refuses a bad value with one line naming the flag, the
/// value and what is allowed (the parse error), so nothing invalid reaches a stage.
/// </summary>
internal static class CliOptions
{
    public static Option<TimeSpan> Duration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "DURATION",
        CustomParser = r =>
        {
            var text = Single(r);
            if (DurationText.TryParse(text, out var value, out var why))
                return value;
            r.AddError($"{name} '{text}' {why}");
            return default;
        },
    };

    /// <summary>A duration that must be above 0 (a timeout, a wait): <c>0</c> is refused at the flag, as written, rather than by the stage as <c>00:00:00</c>.</summary>
    public static Option<TimeSpan> PositiveDuration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "DURATION",
        CustomParser = r =>
        {
            var text = Single(r);
            if (!DurationText.TryParse(text, out var value, out var why))
                r.AddError($"{name} '{text}' {why}");
            else if (value == TimeSpan.Zero)
                r.AddError($"{name} '{text}' is not allowed; use a duration above 0, e.g. 500ms, 10s or 2m (at most 596h)");
            return value;
        },
    };

    /// <summary>The option's value as written on the command line (for messages about two flags together); null when not given.</summary>
    public static string? Written<T>(this ParseResult result, Option<T> option)
        => result.GetResult(option) is { Implicit: false, Tokens.Count: > 0 } given ? given.Tokens[^1].Value : null;

    public static Option<int> Int(string name, int min, int max, string description) => new(name)
    {
        Description = description,
        HelpName = "N",
        CustomParser = r =>
        {
            var text = Single(r);
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
                return (int)value;
            r.AddError($"{name} '{text}' is not allowed; use a whole number from {min} to {max}");
            return default;
        },
    };

    public static Option<int> Size(string name, int min, string description) => new(name)
    {
        Description = description,
        HelpName = "BYTES",
        CustomParser = r =>
        {
            var text = Single(r);
            if (SizeText.TryParse(text, out var value, out var why) && value >= min)
                return value;
            r.AddError($"{name} '{text}' {(why.Length > 0 ? why : $"is too small; use at least {min}")}");
            return default;
        },
    };

    public static Option<IFraming> Framing() => new("--framing")
    {
        Description = "how bytes become messages (default raw): raw, lines, delimiter, length, u16be, u32be, fixed, header, "
            + "text-length, mux, zmtp, with key=value settings, e.g. delimiter,delimiter=\\x03,position=prefix  length,bytes=3,endian=little  "
            + "fixed,size=16  u16be,max_frame_bytes=4096,on_error=skip  zmtp,socket=pull (docs/framing.md)",
        HelpName = "SPEC",
        CustomParser = r =>
        {
            var text = Single(r);
            try
            {
                return FramingSpec.Parse(text);
            }
            catch (FramingException ex)
            {
                r.AddError("--framing: " + ex.Message);
                return RawFraming.Default;
            }
        },
    };

    public static Option<T> Choice<T>(string name, string helpName, string description, params (string Word, T Value)[] choices) => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = r =>
        {
            var text = Single(r);
            foreach (var (word, value) in choices)
                if (string.Equals(word, text, StringComparison.OrdinalIgnoreCase))
                    return value;
            var words = choices.Select(c => c.Word).ToArray();
            r.AddError($"{name} '{text}' is not allowed{Suggest.DidYouMean(text, words)}; use {string.Join(", ", words[..^1])} or {words[^1]}");
            return default!;
        },
    };

    public static Option<LogLevel> LogLevel(LogLevel defaultLevel) => Choice("--log-level", "LEVEL",
        $"stderr logging: trace, debug, information, warning, error, critical, none (default {defaultLevel.ToString().ToLowerInvariant()})",
        ("trace", Microsoft.Extensions.Logging.LogLevel.Trace), ("debug", Microsoft.Extensions.Logging.LogLevel.Debug),
        ("information", Microsoft.Extensions.Logging.LogLevel.Information), ("info", Microsoft.Extensions.Logging.LogLevel.Information),
        ("warning", Microsoft.Extensions.Logging.LogLevel.Warning), ("error", Microsoft.Extensions.Logging.LogLevel.Error),
        ("critical", Microsoft.Extensions.Logging.LogLevel.Critical), ("none", Microsoft.Extensions.Logging.LogLevel.None));

    public static Option<LogFormat> LogFormat() => Choice("--log-format", "FORMAT", "stderr log lines: plain (default) or json",
        ("plain", Cli.LogFormat.Plain), ("json", Cli.LogFormat.Json));

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>
    /// The option's value when it was given on the command line and taken: a value its parser refused counts as not given,
    /// so that the command's other checks can run beside that parse error (<see cref="CommandChecks"/>).
    /// </summary>
    public static bool TryGet<T>(this ParseResult result, Option<T> option, out T value)
    {
        if (result.GetResult(option) is { Implicit: false } given && !result.Errors.Any(e => ReferenceEquals(e.SymbolResult, given)))
        {
            value = result.GetValue(option)!;
            return true;
        }
        value = default!;
        return false;
    }

    public static T ValueOr<T>(this ParseResult result, Option<T> option, T fallback) => result.TryGet(option, out var value) ? value : fallback;

    private static string Single(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
}
