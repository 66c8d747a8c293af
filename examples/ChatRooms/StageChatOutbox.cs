using Ferry.Connections;
using Ferry.Stages;

namespace ChatRooms;

/// <summary>The chat's deliveries as a <see cref="TcpServerStage"/>'s egress routes and groups (a room is a group).</summary>
public sealed class StageChatOutbox(TcpServerStage stage) : IChatOutbox
{
    /// <inheritdoc/>
    public ValueTask<bool> SendAsync(ConnectionId to, ReadOnlyMemory<byte> message) => stage.SendAsync(to, message);

    /// <inheritdoc/>
    public async ValueTask BroadcastAsync(ReadOnlyMemory<byte> message, ConnectionId except) => await stage.BroadcastAsync(message, except: except);

    /// <inheritdoc/>
    public async ValueTask SendToRoomAsync(string room, ReadOnlyMemory<byte> message, ConnectionId except) => await stage.SendToGroupAsync(room, message, except: except);

    /// <inheritdoc/>
    public bool Join(ConnectionId who, string room) => stage.JoinGroup(who, room);

    /// <inheritdoc/>
    public bool Leave(ConnectionId who, string room) => stage.LeaveGroup(who, room);
}
