using System.Buffers;
using System.Text;
using System.Text.Json;
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

    public void Write(Action<Utf8JsonWriter> body, bool flush = true)
    {
        lock (_gate)
        {
            _json.Reset(_buffer);
            _json.WriteStartObject();
            body(_json);
            _json.WriteEndObject();
            _json.Flush();
            _buffer.Write("\n"u8);
            _out.Write(Encoding.UTF8.GetString(_buffer.WrittenSpan));
            _buffer.Clear();
            if (flush)
                _out.Flush();
        }
    }

    public void Flush()
    {
        lock (_gate)
            _out.Flush();
    }

    public void Error(string message, string? detail = null) => Write(j =>
    {
        j.WriteString("type", "error");
        j.WriteString("message", message);
        if (detail is not null)
            j.WriteString("detail", detail);
    });

    public static void WritePayload(Utf8JsonWriter j, ReadOnlySpan<byte> payload)
    {
        if (System.Text.Unicode.Utf8.IsValid(payload))
            j.WriteString("text", payload);
        else
            j.WriteBase64String("base64", payload);
    }

    public static void WriteStats(Utf8JsonWriter j, SocketStats s)
    {
        j.WriteString("type", "stats");
        j.WriteNumber("connections", s.ConnectionsNow);
        j.WriteNumber("accepted", s.AcceptedTotal);
        j.WriteNumber("rejected", s.RejectedTotal);
        j.WriteNumber("closed", s.ClosedTotal);
        j.WriteNumber("bytes_in", s.BytesReceivedTotal);
        j.WriteNumber("packets_in", s.PacketsReceivedTotal);
        j.WriteNumber("bytes_out", s.BytesSentTotal);
        j.WriteNumber("packets_out", s.PacketsSentTotal);
        j.WriteNumber("bytes_in_per_s", Math.Round(s.BytesReceivedPerSecond, 1));
        j.WriteNumber("packets_in_per_s", Math.Round(s.PacketsReceivedPerSecond, 1));
        j.WriteNumber("bytes_out_per_s", Math.Round(s.BytesSentPerSecond, 1));
        j.WriteNumber("packets_out_per_s", Math.Round(s.PacketsSentPerSecond, 1));
        j.WriteNumber("groups", s.GroupsPublishedTotal);
        j.WriteNumber("frame_errors", s.FrameErrorsTotal);
        j.WriteNumber("egress_dropped_bytes", s.EgressBytesDroppedTotal);
        j.WriteNumber("egress_dropped_packets", s.EgressPacketsDroppedTotal);
        j.WriteNumber("egress_unknown_target", s.EgressUnknownTargetTotal);
    }

    public void Dispose() => _json.Dispose();
}
