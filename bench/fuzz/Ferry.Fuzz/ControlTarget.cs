using System.Text;
using System.Text.Json;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Internal;
using TcpServerStage = Ferry.Stages.TcpServerStage;
using TcpServerStageOptions = Ferry.Stages.TcpServerStageOptions;

/// <summary>
/// The <c>control</c> target: the NATS gateway's control subject parser (<c>ControlCommandParser.Parse</c>, what a
/// peer on the bus reaches by publishing to <c>ferry.ctrl.&lt;stage&gt;</c>) on the input as the message body. Beside
/// "throws nothing" (an exception would end the gateway's control listener) it checks that a refusal says where (it
/// starts with <c>control message</c>, <c>control command</c> or the command's name), says what is allowed or expected,
/// and stays short whatever was sent (it is quoted into a reply and an error event, each one NATS message); and that
/// an accepted command is well formed (a group command has a group that is not blank, a close none; text members at
/// most <c>MaxTextLength</c>), written back as JSON parses to the same command, and is carried out (<c>ControlListener.Apply</c>)
/// on a stage that never started without an exception, refused as not connected.
/// </summary>
internal static class ControlTarget
{
    /// <summary>The longest error: the parser's own words, a value cut to 64 characters, a JSON reader's message.</summary>
    private const int MaxErrorLength = 600;

    private static readonly string[] Where = ["control message", "control command ", "conn.close: ", "group.join: ", "group.leave: "];
    private static readonly string[] Guidance = ["expected", "allowed", "use conn.close", "must be", "give each member once", "name the group"];

    public static void Run(byte[] data)
    {
        var command = ControlCommandParser.Parse(data, out var error);
        if (command is null)
        {
            if (error is null)
                throw new InvalidOperationException("no command and no error");
            if (error.Length > MaxErrorLength)
                throw new InvalidOperationException($"an error of {error.Length} characters: {Printable(error[..200])}…");
            if (!Where.Any(w => error.StartsWith(w, StringComparison.Ordinal)))
                throw new InvalidOperationException($"an error that does not say where: {Printable(error)}");
            if (!Guidance.Any(w => error.Contains(w, StringComparison.Ordinal)))
                throw new InvalidOperationException($"an error that does not say what is allowed: {Printable(error)}");
            // Quoted into the reply as the gateway does it: that must not throw either.
            JsonSerializer.SerializeToUtf8Bytes(error);
            return;
        }
        if (error is not null)
            throw new InvalidOperationException($"a command and an error: {Printable(error)}");
        if (command.Connection.IsNone || command.Connection.Sequence == 0)
            throw new InvalidOperationException($"an accepted command for no connection: {command}");
        var isGroup = command.Verb is ControlVerb.Join or ControlVerb.Leave;
        if (isGroup != (command.Group is not null) || (isGroup && string.IsNullOrWhiteSpace(command.Group)))
            throw new InvalidOperationException($"a {command.Name} with group {Printable(command.Group ?? "(none)")}");
        if (!isGroup && command.Group is not null || isGroup && (command.Reason ?? command.Code) is not null)
            throw new InvalidOperationException($"members of another command kept: {command}");
        foreach (var text in new[] { command.Group, command.Reason, command.Code })
            if (text is { Length: > ControlCommandParser.MaxTextLength })
                throw new InvalidOperationException($"a text member of {text.Length} characters accepted");

        var again = ControlCommandParser.Parse(Write(command), out var againError);
        if (again != command)
            throw new InvalidOperationException($"{command} written back parses as {again?.ToString() ?? Printable(againError!)}");

        // Carried out as the gateway does it, on a stage that never started (no connection: the stage's own checks
        // of the group and the close still run). An exception here would end the gateway's control listener.
        var refused = ControlListener.Apply(Stage.Value, command);
        if (refused is null || !refused.Contains(command.Connection.ToString(), StringComparison.Ordinal))
            throw new InvalidOperationException($"{command} on a stage without connections: {refused ?? "carried out"}");
    }

    private static readonly Lazy<TcpServerStage> Stage = new(() =>
        new TcpServerStage(new TcpServerStageOptions { Name = "fuzz", Bind = "127.0.0.1:0", Framing = FramingSpec.Parse("lines") }, new InProcessBus()));

    /// <summary>The command as a client would send it.</summary>
    private static byte[] Write(ControlCommand command)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("command", command.Name);
            json.WriteStartObject("payload");
            json.WriteString("conn_id", command.Connection.ToString());
            if (command.Group is not null)
                json.WriteString("group", command.Group);
            if (command.Reason is not null)
                json.WriteString("reason", command.Reason);
            if (command.Code is not null)
                json.WriteString("code", command.Code);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>Control characters and surrogates as \uHHHH, so a replayed crash's message prints whole.</summary>
    private static string Printable(string text) =>
        string.Concat(text.Select(c => char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString()));

    /// <summary>The seed corpus: the three commands as a worker sends them, and some a careless one does.</summary>
    public static void WriteSeeds(string dir)
    {
        Directory.CreateDirectory(dir);
        string[] messages =
        [
            """{"command":"conn.close","payload":{"conn_id":"9a3c01f2-17","reason":"protocol_violation","code":"isomsg_pack_fail"}}""",
            """{"command":"conn.close","payload":{"conn_id":"9a3c01f2-17"}}""",
            """{"command":"group.join","payload":{"conn_id":"9a3c01f2-17","group":"ops"}}""",
            """{"payload":{"group":"caf\u00e9 \ud83d\ude00","conn_id":"00000001-1"},"command":"group.leave","x":[1,{"y":null}]}""",
            """{"command":"conn.reboot","payload":{}}""",
            """{"command":"group.join","payload":{"conn_id":"9a3c01f2-17","group":" "}}""",
            """{"command":"conn.close","payload":{"conn_id":9,"reason":true}}""",
            """{"command":"conn.close","command":"conn.close","payload":"x"}""",
            """[{"command":"conn.close"}]""",
            "kill it",
        ];
        for (var i = 0; i < messages.Length; i++)
            File.WriteAllBytes(Path.Combine(dir, $"command-{i}"), Encoding.UTF8.GetBytes(messages[i]));
    }
}
