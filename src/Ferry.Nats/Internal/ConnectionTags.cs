using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Ferry.Connections;

namespace Ferry.Nats.Internal;

/// <summary>
/// The live connections of the stage with their header strings made once (<c>conn.id</c>, <c>peer.ip</c>,
/// <c>peer.port</c>), kept from the stage's connected and disconnected events. Egress uses it to tell a
/// connection that is gone from one whose buffer was full.
/// </summary>
internal sealed class ConnectionTags
{
    private readonly ConcurrentDictionary<ConnectionId, Tag> _live = new();

    public void Add(ConnectionId id, IPEndPoint peer) => _live[id] = Tag.Of(id, peer);

    public void Remove(ConnectionId id) => _live.TryRemove(id, out _);

    public bool IsLive(ConnectionId id) => _live.ContainsKey(id);

    public Tag Get(ConnectionId id, IPEndPoint peer)
        => _live.TryGetValue(id, out var tag) ? tag : Tag.Of(id, peer);

    public sealed record Tag(string Id, string Ip, string Port)
    {
        public static Tag Of(ConnectionId id, IPEndPoint peer)
            => new(id.ToString(), peer.Address.ToString(), peer.Port.ToString(CultureInfo.InvariantCulture));
    }
}
