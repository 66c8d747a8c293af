using System.Text.Json;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry serve</c>'s standard input: one JSON command per line (send, send_any, broadcast, group_send,
/// join, leave, close, connections). A bad line prints an <c>error</c> line naming the problem and changes
/// nothing; a good one prints an <c>ok</c> line. End of input stops reading, not the server.
/// </summary>
internal sealed class StdinCommands(TcpServerStage stage, JsonLineWriter output)
{
    /// <summary>The longest command line taken: room for a payload as large as the egress buffer in base64, and then some.</summary>
    public int MaxLineChars { get; } = (int)Math.Min(int.MaxValue / 2, Math.Max(1L << 20, stage.Options.EgressBufferBytes * 4L / 3 + 64 * 1024));

    public async Task RunAsync(TextReader input, CancellationToken cancellationToken)
    {
        var reader = new BoundedLineReader(input, MaxLineChars);
        while (!cancellationToken.IsCancellationRequested)
        {
            string? line;
            long tooLong;
            try
            {
                (line, tooLong) = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (IOException)
            {
                return; // standard input went away: the server goes on
            }
            if (tooLong > 0)
            {
                output.Error($"command line of {tooLong} characters is longer than the {MaxLineChars} allowed (set by the egress buffer); ignored", null);
                continue;
            }
            if (line is null)
                return;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                await ExecuteAsync(line, cancellationToken).ConfigureAwait(false);
            }
            catch (CommandException ex)
            {
                output.Error(ex.Message, Quote(line));
            }
            catch (FramingException ex)
            {
                // The framing refuses the payload (over max_frame_bytes, the wrong size for fixed, ...):
                // that command fails, the reader goes on.
                output.Error($"the framing refuses this payload: {ex.Message}", Quote(line));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                output.Error($"command failed: {ex.Message}", Quote(line));
            }
        }
    }

    private static string Quote(string line) => line.Length > 200 ? line[..200] + "…" : line;


    public async Task ExecuteAsync(string line, CancellationToken cancellationToken)
    {
        // Standard input is decoded with replacement: a byte that is not UTF-8 arrives as U+FFFD, which the JSON parser then
        // blamed as the byte 0xEF (never sent), or, inside a "text", was sent to the client in its place. Refused where it is.
        if (line.IndexOf('\uFFFD', StringComparison.Ordinal) is var bad and >= 0)
            throw new CommandException($"not UTF-8 at character {bad + 1}: a byte that is not UTF-8 (or a raw U+FFFD) was read there; "
                + "send commands as UTF-8 JSON, and a U+FFFD meant as text written \\ufffd");
        JsonElement command;
        try
        {
            using var document = JsonDocument.Parse(line);
            command = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new CommandException($"not JSON: {ex.Message}");
        }
        if (command.ValueKind != JsonValueKind.Object)
            throw new CommandException("a command must be a JSON object with a \"type\"");
        var type = String(command, "type") ?? throw new CommandException("missing \"type\" (send, send_any, broadcast, group_send, join, leave, close, connections)");
        switch (type)
        {
            case "send":
            {
                var conn = Connection(command, "conn");
                var payload = Payload(command);
                var delivered = await stage.SendAsync(conn, payload, Fields(command), cancellationToken).ConfigureAwait(false);
                Ok(type, delivered ? 1 : 0, delivered ? null : WhyNotSent(conn, payload.Length));
                break;
            }
            case "send_any":
            {
                var delivered = await stage.SendToAnyAsync(Payload(command), Fields(command), cancellationToken).ConfigureAwait(false);
                Ok(type, delivered ? 1 : 0, delivered ? null : "no connection took it (none connected, or every buffer full)");
                break;
            }
            case "broadcast":
            {
                var except = OptionalConnection(command, "except");
                Ok(type, await stage.BroadcastAsync(Payload(command), Fields(command), except, cancellationToken).ConfigureAwait(false));
                break;
            }
            case "group_send":
            {
                var group = Required(command, "group");
                var except = OptionalConnection(command, "except");
                Ok(type, await stage.SendToGroupAsync(group, Payload(command), Fields(command), except, cancellationToken).ConfigureAwait(false));
                break;
            }
            case "join":
            {
                var conn = Connection(command, "conn");
                bool joined;
                try
                {
                    joined = stage.JoinGroup(conn, Required(command, "group"));
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
                {
                    // Over max_groups_per_connection or max_group_name_length: the stage says which, for which connection.
                    throw new CommandException($"join: {ex.Message.Replace(" (Parameter 'group')", "", StringComparison.Ordinal)}");
                }
                if (!joined)
                    throw new CommandException($"join: unknown connection '{conn}'");
                Ok(type);
                break;
            }
            case "leave":
            {
                var conn = Connection(command, "conn");
                var group = Required(command, "group");
                if (!stage.LeaveGroup(conn, group))
                    throw new CommandException($"leave: connection '{conn}' is not in group '{group}'");
                Ok(type);
                break;
            }
            case "close":
            {
                var conn = Connection(command, "conn");
                if (!stage.Close(conn, String(command, "reason"), String(command, "code")))
                    throw new CommandException($"close: unknown connection '{conn}'");
                Ok(type);
                break;
            }
            case "connections":
                output.Write(new ConnectionsLine(StageJsonPrinter.Connections(stage.GetConnections())), CliJsonContext.Default.ConnectionsLine);
                break;
            default:
                throw new CommandException($"unknown command type '{type}' (send, send_any, broadcast, group_send, join, leave, close, connections)");
        }
    }

    /// <summary>A precise reason a message to one connection was not taken.</summary>
    private string WhyNotSent(ConnectionId conn, int payloadLength)
    {
        var encoded = stage.Options.Framing.Encoder.GetEncodedLength(payloadLength);
        if (encoded > stage.Options.EgressBufferBytes && stage.Options.EgressOverflow != EgressOverflowPolicy.Wait)
            return $"the message is {encoded} bytes encoded, larger than the whole egress buffer ({stage.Options.EgressBufferBytes} bytes): it can never be queued";
        var row = stage.GetConnections().FirstOrDefault(c => c.Id == conn);
        return row is null
            ? $"connection '{conn}' is unknown or closed"
            : $"connection '{conn}' has {row.EgressBytesQueued} bytes queued of its {stage.Options.EgressBufferBytes}-byte egress buffer: no room for {encoded} more (dropped)";
    }

    private void Ok(string command, int? delivered = null, string? note = null)
        => output.Write(new OkLine(command, delivered, note), CliJsonContext.Default.OkLine);

    private static string? String(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new CommandException($"\"{name}\" must be a string");
    }

    private static string Required(JsonElement e, string name)
    {
        var value = String(e, name);
        return string.IsNullOrWhiteSpace(value) ? throw new CommandException($"missing \"{name}\"") : value;
    }

    private static ConnectionId Connection(JsonElement e, string name)
    {
        var text = Required(e, name);
        return ConnectionId.TryParse(text, out var id) ? id : throw new CommandException($"\"{name}\": '{text}' is not a connection id (e.g. 3fa2c1d9-42)");
    }

    private static ConnectionId OptionalConnection(JsonElement e, string name)
        => String(e, name) is null ? default : Connection(e, name);

    private static byte[] Payload(JsonElement e)
    {
        var text = String(e, "text");
        var base64 = String(e, "base64");
        if (text is not null && base64 is not null)
            throw new CommandException("give \"text\" or \"base64\", not both");
        if (text is not null)
            return System.Text.Encoding.UTF8.GetBytes(text);
        if (base64 is null)
            throw new CommandException("missing \"text\" or \"base64\"");
        try
        {
            return Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            throw new CommandException("\"base64\" is not valid base64");
        }
    }

    /// <summary>The header fields the stage's framing carries, by name; other keys are not header fields here.</summary>
    private FrameFields Fields(JsonElement e)
    {
        var fields = FrameFields.None;
        foreach (var field in stage.Options.Framing.HeaderFields)
            fields = field.Write(fields, Number(e, field.Name, field.MaxValue));
        return fields;
    }

    private static ulong Number(JsonElement e, string name, ulong max)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return 0;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetUInt64(out var n) || n > max)
            throw new CommandException($"\"{name}\" must be a whole number from 0 to {max}");
        return n;
    }

    private sealed class CommandException(string message) : Exception(message);
}
