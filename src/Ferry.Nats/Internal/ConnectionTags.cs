using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Ferry.Connections;

namespace Ferry.Nats.Internal;

/// <summary>
/// The live connections of the stage with their header strings made once (<c>conn.id</c>, <c>peer.ip</c>,
/// <c>peer.port</c>), kept from the stage's connected and disconnected events, for the ingress headers. Egress does not
/// ask it whether a connection is there: it lags the stage (a closed connection stays until its disconnected event is
/// handled), so the stage's own outcome of the send says it (<see cref="Ferry.Stages.TcpServerStage.SendWithOutcomeAsync"/>).
/// </summary>
internal sealed class ConnectionTags
{
    private readonly ConcurrentDictionary<ConnectionId, Tag> _live = new();

    public void Add(ConnectionId id, IPEndPoint peer) => _live[id] = Tag.Of(id, peer);

    public void Remove(ConnectionId id) => _live.TryRemove(id, out _);

    public Tag Get(ConnectionId id, IPEndPoint peer)
        => _live.TryGetValue(id, out var tag) ? tag : Tag.Of(id, peer);

    public sealed record Tag(string Id, string Ip, string Port)
    {
        public static Tag Of(ConnectionId id, IPEndPoint peer)
            => new(id.ToString(), peer.Address.ToString(), peer.Port.ToString(CultureInfo.InvariantCulture));
    }
}
