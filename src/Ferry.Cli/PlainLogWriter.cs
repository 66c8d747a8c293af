using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// The last resort of <see cref="DeferredLoggerFactory"/>: when the console logger cannot be built (a process
/// out of descriptors cannot open a file), entries are written here as plain single lines, in the simple
/// console format (<c>HH:mm:ss.fff warn: Category[event] message</c>), whatever format was asked for. It uses
/// nothing but the writer, and it never throws: a log line must not take down the code that logs.
/// </summary>
internal sealed class PlainLogWriter(TextWriter writer)
{
    private readonly Lock _gate = new();

    /// <summary>Writes one entry; an exception that comes with it follows on the same line.</summary>
    public void Write(LogLevel level, string category, EventId eventId, string message, Exception? exception)
        => WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {Abbreviation(level)}: {category}[{eventId.Id}] {message}{(exception is null ? "" : " " + exception)}");

    /// <summary>Says once why entries come plainly from now on.</summary>
    public void NoteBuildFailed(Exception failure)
        => WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} fail: Ferry.Cli[0] the console logger could not be built ({failure.GetType().Name}: {failure.Message}); log entries are written plainly from now on");

    private void WriteLine(string line)
    {
        try
        {
            lock (_gate)
            {
                writer.WriteLine(line);
                writer.Flush();
            }
        }
        catch (Exception)
        {
            // Nowhere left to say it (stderr closed or failing): the entry is lost, the caller goes on.
        }
    }

    private static string Abbreviation(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => level.ToString(),
    };
}
