using System.Buffers;
using System.Text.Json;
using Ferry.Connections;

namespace ChatRooms;

/// <summary>
/// Seed 002's message protocol, independent of the transport: <c>ping</c> → <c>pong</c>,
/// <c>broadcast</c> to everyone but the sender, <c>private</c> to one client id, <c>join_room</c> /
/// <c>leave_room</c> with <c>user_joined</c> / <c>user_left</c> notices to the room, and an
/// <c>error</c> for anything else. Clients learn their id from the <c>welcome</c> message.
/// </summary>
public sealed class ChatProtocol(IChatOutbox outbox, TimeProvider time)
{
    /// <summary>Longest room name accepted.</summary>
    public const int MaxRoomName = 64;

    /// <summary>A client connected: tell it its id (the <c>target</c> others use for private messages).</summary>
    public ValueTask OnConnectedAsync(ConnectionId client)
        => Ignore(outbox.SendAsync(client, Message("welcome", w => w.WriteString("clientId", client.ToString()))));

    /// <summary>Handles one framed message from <paramref name="client"/>.</summary>
    public async ValueTask OnMessageAsync(ConnectionId client, ChatRequest request)
    {
        switch (request.Type)
        {
            case "ping":
                await outbox.SendAsync(client, Message("pong", _ => { }));
                break;
            case "broadcast":
                await outbox.BroadcastAsync(Message("broadcast", w => { w.WriteString("from", client.ToString()); WriteData(w, request.Data); }), except: client);
                break;
            case "private":
                if (request.Target is null || !ConnectionId.TryParse(request.Target, out var target))
                    await SendErrorAsync(client, $"private: 'target' must be a client id such as {client} (got {Quote(request.Target)})");
                else if (!await outbox.SendAsync(target, Message("private", w => { w.WriteString("from", client.ToString()); WriteData(w, request.Data); })))
                    await SendErrorAsync(client, $"private: client {target} is not connected");
                break;
            case "join_room":
                if (CheckRoom(request.Room) is { } badJoin)
                    await SendErrorAsync(client, $"join_room: {badJoin}");
                else
                    await JoinAsync(client, request.Room!);
                break;
            case "leave_room":
                if (CheckRoom(request.Room) is { } badLeave)
                    await SendErrorAsync(client, $"leave_room: {badLeave}");
                else if (!outbox.Leave(client, request.Room!))
                    await SendErrorAsync(client, $"leave_room: you are not in room '{request.Room}'");
                break;
            default:
                await SendErrorAsync(client, $"Unknown message type: {request.Type}");
                break;
        }
    }

    /// <summary>A message that could not be parsed.</summary>
    public ValueTask OnBadMessageAsync(ConnectionId client, string error) => SendErrorAsync(client, error);

    /// <summary>
    /// A client left a room: by <c>leave_room</c> or because it disconnected. The rest of the room
    /// hears <c>user_left</c>.
    /// </summary>
    public ValueTask OnLeftRoomAsync(ConnectionId client, string room)
        => outbox.SendToRoomAsync(room, Message("user_left", w => { w.WriteString("connectionId", client.ToString()); w.WriteString("room", room); }), except: default);

    private async ValueTask JoinAsync(ConnectionId client, string room)
    {
        if (!outbox.Join(client, room))
            return;
        await outbox.SendAsync(client, Message("room_joined", w => w.WriteString("room", room)));
        await outbox.SendToRoomAsync(room, Message("user_joined", w => { w.WriteString("connectionId", client.ToString()); w.WriteString("room", room); }), except: client);
    }

    private ValueTask SendErrorAsync(ConnectionId client, string text)
        => Ignore(outbox.SendAsync(client, Message("error", w => w.WriteString("message", text))));

    private static string? CheckRoom(string? room) => room switch
    {
        null => "'room' (a string) is required",
        { Length: 0 } => "'room' must not be empty",
        { Length: > MaxRoomName } => $"'room' is {room.Length} characters, at most {MaxRoomName} are allowed",
        _ => null,
    };

    private static string Quote(string? text) => text is null ? "nothing" : $"'{text}'";

    private static void WriteData(Utf8JsonWriter writer, byte[] data)
    {
        writer.WritePropertyName("data");
        writer.WriteRawValue(data, skipInputValidation: true);
    }

    private byte[] Message(string type, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            body(writer);
            writer.WriteNumber("timestamp", time.GetUtcNow().ToUnixTimeMilliseconds());
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static async ValueTask Ignore(ValueTask<bool> send) => await send;
}
