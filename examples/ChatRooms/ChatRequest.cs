using System.Text.Json;

namespace ChatRooms;

/// <summary>
/// One client message, parsed and copied out of the receive buffer: the protocol may await after
/// parsing, and the payload it came from is only valid until the handler returns.
/// </summary>
/// <param name="Type">The <c>type</c> field.</param>
/// <param name="Data">The raw JSON of the <c>data</c> field (<c>null</c> when absent).</param>
/// <param name="Target">The <c>target</c> field of a private message.</param>
/// <param name="Room">The <c>room</c> field of <c>join_room</c> / <c>leave_room</c>.</param>
public sealed record ChatRequest(string Type, byte[] Data, string? Target, string? Room)
{
    private static readonly byte[] JsonNull = "null"u8.ToArray();

    /// <summary>Parses one message; the error says what is wrong when it is not a JSON object with a string <c>type</c>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out ChatRequest? request, out string? error)
    {
        request = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = $"a message is a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}";
                return false;
            }
            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                error = "a message needs a string 'type' (ping, broadcast, private, join_room, leave_room)";
                return false;
            }
            request = new ChatRequest(
                type.GetString()!,
                root.TryGetProperty("data", out var data) ? JsonSerializer.SerializeToUtf8Bytes(data) : JsonNull,
                StringOrNull(root, "target"),
                StringOrNull(root, "room"));
            error = null;
            return true;
        }
        catch (JsonException e)
        {
            error = $"invalid JSON: {e.Message}";
            return false;
        }
    }

    private static string? StringOrNull(JsonElement root, string name)
        => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
