using System.Text.Json;
using Ferry.Connections;

namespace Ferry.Nats.Internal;

/// <summary>
/// Reads a control subject message, seed 003's <c>{"command":"conn.close","payload":{"conn_id":…,"reason":…,"code":…}}</c>
/// or <c>group.join</c>/<c>group.leave</c> with <c>payload.group</c>, into a <see cref="ControlCommand"/>, or says what is
/// wrong with it: what, where (the member, or the JSON reader's line and byte) and what is allowed. A pure function of
/// the bytes (no broker, no stage), so it is unit tested and fuzzed (bench/fuzz, target <c>control</c>) on its own; it
/// throws nothing, whatever a peer on the bus sends. Members it does not know are ignored.
/// </summary>
/// <remarks>
/// Text members are bounded (<see cref="MaxTextLength"/>): a group name is held by the stage for as long as the group
/// lives and goes into every joined/left event, a reason and code into the disconnected event and the log, and each
/// of those events is one NATS message (a 1 MiB value would make it too large to publish). Values quoted back in an
/// error are cut (<see cref="MaxQuotedLength"/>), so an error reply or event stays small whatever was sent.
/// </remarks>
internal static class ControlCommandParser
{
    /// <summary>The longest <c>payload.group</c>, <c>payload.reason</c> and <c>payload.code</c>, in UTF-16 code units.</summary>
    public const int MaxTextLength = 256;

    /// <summary>How much of a bad value an error quotes.</summary>
    public const int MaxQuotedLength = 64;

    private const string Expected = """expected {"command":"conn.close","payload":{"conn_id":"…"}}""";
    private const string Commands = "use conn.close, group.join or group.leave";
    private const string NotText = "bytes that are not UTF-8, or an escape of half a surrogate pair";
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 16 };

    public static string NameOf(ControlVerb verb) => verb switch
    {
        ControlVerb.Close => "conn.close",
        ControlVerb.Join => "group.join",
        _ => "group.leave",
    };

    /// <summary>Parses one control message.</summary>
    /// <returns>The command, or null with <paramref name="error"/> saying what is wrong.</returns>
    public static ControlCommand? Parse(ReadOnlyMemory<byte> message, out string? error)
    {
        error = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message, Options);
        }
        catch (JsonException ex)
        {
            error = $"control message is not JSON ({ex.Message}); {Expected}";
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = $"control message is a JSON {Kind(root)}, not an object; {Expected}";
                return null;
            }
            if (!TryMember(root, "command", "control message", "control message: \"command\"", out var commandElement, out error))
                return null;
            if (commandElement is not { } command)
            {
                error = $"control message has no \"command\"; {Commands}";
                return null;
            }
            if (command.ValueKind != JsonValueKind.String)
            {
                error = $"control message: \"command\" is a JSON {Kind(command)}, not a string; {Commands}";
                return null;
            }
            if (!TryText(command, out var name))
            {
                error = $"control message: \"command\" is not valid text ({NotText}); {Commands}";
                return null;
            }
            ControlVerb verb;
            switch (name)
            {
                case "conn.close": verb = ControlVerb.Close; break;
                case "group.join": verb = ControlVerb.Join; break;
                case "group.leave": verb = ControlVerb.Leave; break;
                default:
                    error = $"control command {Quote(name)} is not allowed; {Commands}";
                    return null;
            }
            if (!TryMember(root, "payload", "control message", $"{name}: \"payload\"", out var payloadElement, out error))
                return null;
            if (payloadElement is not { } payload || payload.ValueKind != JsonValueKind.Object)
            {
                var what = payloadElement is { } p ? $"is a JSON {Kind(p)}, not an object" : "is missing";
                error = verb == ControlVerb.Close
                    ? $"{name}: \"payload\" {what}; expected {{\"conn_id\":\"…\"}} with optional \"reason\" and \"code\""
                    : $"{name}: \"payload\" {what}; expected {{\"conn_id\":\"…\",\"group\":\"…\"}}";
                return null;
            }
            if (!TryString(payload, name, "conn_id", out var connText, out error))
                return null;
            if (string.IsNullOrEmpty(connText) || !ConnectionId.TryParse(connText, out var connection))
            {
                error = $"{name}: payload.conn_id {Quote(connText)} is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)";
                return null;
            }
            if (verb == ControlVerb.Close)
            {
                if (!TryString(payload, name, "reason", out var reason, out error) || !TryString(payload, name, "code", out var code, out error))
                    return null;
                return new ControlCommand(verb, connection, null, reason, code);
            }
            if (!TryString(payload, name, "group", out var group, out error))
                return null;
            // White space is no group name either: the stage refuses it (ArgumentException).
            if (string.IsNullOrWhiteSpace(group))
            {
                error = $"{name}: payload.group is missing or blank; name the group";
                return null;
            }
            return new ControlCommand(verb, connection, group, null, null);
        }
    }

    /// <summary>
    /// The member <paramref name="member"/> of <paramref name="parent"/>, null when absent; false when it is given twice
    /// (JSON allows it, and which one counts would be a guess). <paramref name="scope"/> names <paramref name="parent"/> in
    /// an error (<c>control message</c>, <c>conn.close: payload</c>), <paramref name="label"/> the member.
    /// </summary>
    private static bool TryMember(JsonElement parent, string member, string scope, string label, out JsonElement? value, out string? error)
    {
        value = null;
        error = null;
        foreach (var property in parent.EnumerateObject())
        {
            bool named;
            try
            {
                named = property.NameEquals(member);
            }
            catch (InvalidOperationException)
            {
                // An escape of half a surrogate pair in a member's name: the reader lets it through, comparing it fails
                // (found by fuzzing; it would have ended the control listener).
                error = $"{scope} has a member name that is not valid text ({NotText}); member names must be text";
                return false;
            }
            if (!named)
                continue;
            if (value is not null)
            {
                error = $"{label} is given twice; give each member once";
                return false;
            }
            value = property.Value;
        }
        return true;
    }

    /// <summary>An optional string member of the payload (null when absent or JSON null), at most <see cref="MaxTextLength"/> long.</summary>
    private static bool TryString(JsonElement payload, string command, string member, out string? value, out string? error)
    {
        value = null;
        if (!TryMember(payload, member, $"{command}: payload", $"{command}: payload.{member}", out var element, out error))
            return false;
        if (element is not { } found || found.ValueKind == JsonValueKind.Null)
            return true;
        if (found.ValueKind != JsonValueKind.String)
        {
            error = $"{command}: payload.{member} is a JSON {Kind(found)}; it must be a string";
            return false;
        }
        if (!TryText(found, out var text))
        {
            error = $"{command}: payload.{member} is not valid text ({NotText}); it must be a string";
            return false;
        }
        if (text.Length > MaxTextLength)
        {
            error = $"{command}: payload.{member} is {text.Length} characters long; at most {MaxTextLength} are allowed";
            return false;
        }
        value = text;
        return true;
    }

    /// <summary>
    /// A JSON string's text; false for bytes that are not UTF-8 and for a lone surrogate escape (<c>\uD800</c>): the
    /// reader lets both through, only decoding them fails.
    /// </summary>
    private static bool TryText(JsonElement element, out string text)
    {
        try
        {
            text = element.GetString() ?? "";
            return true;
        }
        catch (InvalidOperationException)
        {
            text = "";
            return false;
        }
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    /// <summary>A value as an error quotes it: in single quotes, cut after <see cref="MaxQuotedLength"/> characters.</summary>
    internal static string Quote(string? value)
    {
        value ??= "";
        if (value.Length <= MaxQuotedLength)
            return $"'{value}'";
        // Not between the halves of a surrogate pair: a lone half is no text.
        var cut = char.IsHighSurrogate(value[MaxQuotedLength - 1]) ? MaxQuotedLength - 1 : MaxQuotedLength;
        return $"'{value[..cut]}…' ({value.Length} characters)";
    }
}
