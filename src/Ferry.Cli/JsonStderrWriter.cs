using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// stderr under <c>--log-format json</c>: every line the command writes itself (a fatal error, a problem of a file, a stop's
/// account) becomes one JSON object shaped as the JSON console formatter's entries (<c>Timestamp</c>, <c>EventId</c>,
/// <c>LogLevel</c>, <c>Category</c>, <c>Message</c>), so a collector that parses Ferry's stderr as JSON never meets a plain
/// line. The log entries themselves are written by the formatter to <see cref="Inner"/> (<see cref="CliLogging"/>), not
/// through this writer.
/// </summary>
internal sealed class JsonStderrWriter(TextWriter inner, TimeProvider? time = null) : TextWriter
{
    /// <summary>The category of the command's own lines.</summary>
    public const string Category = "Ferry.Cli";

    private readonly Lock _gate = new();
    private readonly StringBuilder _line = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The stream the JSON lines go to, and the log formatter writes to directly.</summary>
    public TextWriter Inner => inner;

    public override Encoding Encoding => inner.Encoding;

    /// <summary>One line at <paramref name="level"/> (a plain <c>WriteLine</c> is an error: most of what a command says itself is).</summary>
    public void WriteLine(LogLevel level, string message)
    {
        lock (_gate)
            Emit(level, message);
    }

    /// <summary>
    /// Writes <paramref name="message"/> as one line of <paramref name="stderr"/> at <paramref name="level"/>: a JSON object under
    /// <c>--log-format json</c>, else the line as it is.
    /// </summary>
    public static void Line(TextWriter stderr, LogLevel level, string message)
    {
        if (stderr is JsonStderrWriter json)
            json.WriteLine(level, message);
        else
            stderr.WriteLine(message);
    }

    public override void Write(char value)
    {
        lock (_gate)
        {
            if (value == '\n')
            {
                var text = _line.ToString().TrimEnd('\r');
                _line.Clear();
                Emit(LogLevel.Error, text);
            }
            else
            {
                _line.Append(value);
            }
        }
    }

    public override void Write(string? value)
    {
        if (value is null)
            return;
        lock (_gate)
        {
            foreach (var c in value)
                Write(c);
        }
    }

    public override void WriteLine(string? value)
    {
        lock (_gate)
        {
            Write(value);
            Write('\n');
        }
    }

    public override void Flush()
    {
        lock (_gate)
            inner.Flush();
    }

    private void Emit(LogLevel level, string message)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("Timestamp", _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteNumber("EventId", 0);
            json.WriteString("LogLevel", level.ToString());
            json.WriteString("Category", Category);
            json.WriteString("Message", message);
            json.WriteEndObject();
        }
        inner.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        inner.Flush();
    }
}
