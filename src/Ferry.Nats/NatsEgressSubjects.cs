using System.Globalization;
using Ferry.Connections;

namespace Ferry.Nats;

/// <summary>
/// Where a worker sends egress so that it reaches the right gateway. Given the stage's egress subject
/// (<see cref="NatsGateway.EgressSubject"/>, e.g. <c>ferry.pos.out</c>):
/// <list type="bullet">
/// <item>a reply for one connection goes to <c>ferry.pos.out.&lt;instance&gt;</c>, the instance being the part of
/// the connection id before the dash (<see cref="ForConnection(string, ConnectionId)"/>): only the gateway
/// holding the connection receives it;</item>
/// <item>one message for any one connection of any gateway goes to <c>ferry.pos.out.any</c> (<see cref="ForAny"/>);</item>
/// <item>everyone, or a group, on <c>ferry.pos.out</c> itself: every gateway delivers to its own connections.</item>
/// </list>
/// </summary>
public static class NatsEgressSubjects
{
    /// <summary>The subject of the gateway holding <paramref name="connection"/>.</summary>
    public static string ForConnection(string egressSubject, ConnectionId connection) => ForInstance(egressSubject, connection.Instance);

    /// <summary>The subject of the gateway holding the connection written as <c>iiiiiiii-n</c> (the <c>conn.id</c> header).</summary>
    /// <exception cref="FormatException">The text is not a connection id.</exception>
    public static string ForConnection(string egressSubject, string connectionId) => ForConnection(egressSubject, ConnectionId.Parse(connectionId));

    /// <summary>The subject of the gateway whose connection ids start with <paramref name="instance"/>.</summary>
    public static string ForInstance(string egressSubject, uint instance)
        => egressSubject + "." + instance.ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>The subject one gateway (of all that serve the stage) takes each message from, for one of its connections.</summary>
    public static string ForAny(string egressSubject) => egressSubject + ".any";
}
