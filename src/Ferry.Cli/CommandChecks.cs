using System.CommandLine;
using System.Runtime.CompilerServices;

namespace Ferry.Cli;

/// <summary>
/// The checks a command's action makes of its flags together (a stage's options validated, TLS files read, flags that need
/// each other), kept with the command so that a command line with a bad flag value is told of those problems too, in the
/// same line: fixing one flag per try, only to be refused for the next, is what this spares a user.
/// </summary>
internal static class CommandChecks
{
    private static readonly ConditionalWeakTable<Command, Action<ParseResult>> Checks = [];

    /// <summary>
    /// Keeps <paramref name="check"/> for <paramref name="command"/>: it reads the flags that parsed (a flag whose value was
    /// refused counts as not given, see <see cref="CliOptions.TryGet{T}"/>) and throws a <see cref="CliException"/> with
    /// what it finds.
    /// </summary>
    public static void Add(Command command, Action<ParseResult> check) => Checks.AddOrUpdate(command, check);

    /// <summary>
    /// The problems the command's check finds beside the parse errors. A problem that names a refused flag is left out:
    /// with that flag taken as not given, "--trusted-proxy needs --proxy-protocol" would be said to someone who gave one.
    /// </summary>
    public static IEnumerable<string> Beside(ParseResult result, IReadOnlyCollection<string> refusedFlags)
    {
        if (!Checks.TryGetValue(result.CommandResult.Command, out var check))
            return [];
        try
        {
            check(result);
            return [];
        }
        catch (CliException ex)
        {
            return ex.Problems.Where(p => !refusedFlags.Any(flag => p.Contains(flag, StringComparison.Ordinal)));
        }
    }

    /// <summary>Runs each step, gathering the problems they throw, so that every step is checked; throws them all at the end.</summary>
    public sealed class Gathered
    {
        private readonly List<string> _problems = [];

        /// <summary><paramref name="step"/>'s value, or <paramref name="fallback"/> with its problems kept.</summary>
        public T Take<T>(Func<T> step, T fallback)
        {
            try
            {
                return step();
            }
            catch (CliException ex)
            {
                _problems.AddRange(ex.Problems);
                return fallback;
            }
        }

        public void Add(IEnumerable<string> problems) => _problems.AddRange(problems);

        /// <summary>Whether a problem so far names <paramref name="flag"/>.</summary>
        public bool Names(string flag) => _problems.Exists(p => p.Contains(flag, StringComparison.Ordinal));

        /// <exception cref="CliException">Every problem gathered, when there is one.</exception>
        public void ThrowIfAny()
        {
            if (_problems.Count > 0)
                throw new CliException(_problems);
        }
    }
}
