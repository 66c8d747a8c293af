using Ferry.Connections;

namespace ChatRooms;

/// <summary>
/// What the chat protocol needs from a transport: deliver a message to one client, to everyone but
/// one, to a room, and put a client in or out of a room. <see cref="StageChatOutbox"/> maps it onto a
/// <c>TcpServerStage</c>; another transport (a per-connection handler API) can implement it too.
/// </summary>
public interface IChatOutbox
{
    /// <summary>Sends to one client; false when it is not connected.</summary>
    ValueTask<bool> SendAsync(ConnectionId to, ReadOnlyMemory<byte> message);

    /// <summary>Sends to every connected client except <paramref name="except"/>.</summary>
    ValueTask BroadcastAsync(ReadOnlyMemory<byte> message, ConnectionId except);

    /// <summary>Sends to every member of <paramref name="room"/> except <paramref name="except"/> (none: <c>default</c>).</summary>
    ValueTask SendToRoomAsync(string room, ReadOnlyMemory<byte> message, ConnectionId except);

    /// <summary>Puts a client in a room; false when it is not connected.</summary>
    bool Join(ConnectionId who, string room);

    /// <summary>Takes a client out of a room; false when it was not in it.</summary>
    bool Leave(ConnectionId who, string room);
}
