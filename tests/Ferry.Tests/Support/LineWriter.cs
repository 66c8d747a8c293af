using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace Ferry.Tests.Support;

/// <summary>A TextWriter that collects whole lines, safe to read while another thread writes.</summary>
public sealed class LineWriter : TextWriter
{
    private readonly StringBuilder _partial = new();
    private readonly ConcurrentQueue<string> _lines = new();

    public override Encoding Encoding => Encoding.UTF8;

    public IReadOnlyCollection<string> Lines => _lines;

    public IEnumerable<JsonElement> Json => _lines.Select(l => JsonDocument.Parse(l).RootElement);

    public override void Write(char value)
    {
        lock (_partial)
        {
            if (value == '\n')
            {
                _lines.Enqueue(_partial.ToString());
                _partial.Clear();
            }
            else
            {
                _partial.Append(value);
            }
        }
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? "")
            Write(c);
    }

    public async Task<JsonElement> WaitJsonAsync(Func<JsonElement, bool> match, string what)
    {
        JsonElement found = default;
        await Poll.UntilAsync(() =>
        {
            foreach (var j in Json)
                if (match(j)) { found = j; return true; }
            return false;
        }, what);
        return found;
    }

    public static bool Is(JsonElement j, string type) => j.GetProperty("type").GetString() == type;
}
