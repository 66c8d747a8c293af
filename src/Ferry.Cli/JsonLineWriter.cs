using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// Writes one JSON object per line. Thread-safe; output is written through, so a slow reader of
/// stdout slows the stage down (backpressure) instead of growing a buffer.
/// </summary>
internal sealed class JsonLineWriter : IDisposable
{
    private readonly Lock _gate = new();
    private readonly TextWriter _out;
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _json;

    public JsonLineWriter(TextWriter output)
    {
        _out = output;
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>Serialises <paramref name="line"/> with its source-generated contract as one line.</summary>
    public void Write<T>(T line, JsonTypeInfo<T> contract, bool flush = true)
    {
        lock (_gate)
        {
            _json.Reset(_buffer);
            JsonSerializer.Serialize(_json, line, contract);
            EndLine(flush);
        }
    }

    /// <summary>Writes one object field by field (packet lines: the payload goes from its span straight to the buffer).</summary>
    public void Write(Action<Utf8JsonWriter> body, bool flush = true)
    {
        lock (_gate)
        {
            _json.Reset(_buffer);
            _json.WriteStartObject();
            body(_json);
            _json.WriteEndObject();
            EndLine(flush);
        }
    }

    private void EndLine(bool flush)
    {
        _json.Flush();
        _buffer.Write("\n"u8);
        _out.Write(Encoding.UTF8.GetString(_buffer.WrittenSpan));
        _buffer.Clear();
        if (flush)
            _out.Flush();
    }

    public void Flush()
    {
        lock (_gate)
            _out.Flush();
    }

    public void Error(string message, string? detail = null) => Write(new ErrorLine(null, message, null, detail), CliJsonContext.Default.ErrorLine);

    /// <summary>An error line of one stage of <c>ferry run</c>, whose every line names its stage.</summary>
    public void StageError(string stage, string? kind, string message) => Write(new ErrorLine(kind, message, null, null) { Stage = stage }, CliJsonContext.Default.ErrorLine);

    public static void WritePayload(Utf8JsonWriter j, ReadOnlySpan<byte> payload)
    {
        if (System.Text.Unicode.Utf8.IsValid(payload))
            j.WriteString("text", payload);
        else
            j.WriteBase64String("base64", payload);
    }

    public static StatsLine Stats(SocketStats s, IReadOnlyList<ConnectionLine>? table = null) => new(
        s.ConnectionsNow, s.AcceptedTotal, s.RejectedTotal, s.ClosedTotal, s.BytesReceivedTotal, s.PacketsReceivedTotal,
        s.BytesSentTotal, s.PacketsSentTotal, Math.Round(s.BytesReceivedPerSecond, 1), Math.Round(s.PacketsReceivedPerSecond, 1),
        Math.Round(s.BytesSentPerSecond, 1), Math.Round(s.PacketsSentPerSecond, 1), s.GroupsPublishedTotal, s.FrameErrorsTotal,
        s.EgressBytesDroppedTotal, s.EgressPacketsDroppedTotal, s.EgressUnknownTargetTotal, s.TlsFailuresTotal, s.ProxyFailuresTotal, s.GroupJoinsRefusedTotal,
        s.LingeringNow, s.LingeringResetTotal, table);

    public void Dispose() => _json.Dispose();
}
