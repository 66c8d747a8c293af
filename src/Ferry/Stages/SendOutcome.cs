namespace Ferry.Stages;

/// <summary>
/// What became of one message sent to one connection, any one, a group or everyone (<see cref="TcpServerStage.SendWithOutcomeAsync"/>),
/// or by a client stage to its connection (<see cref="TcpClientStage.SendWithOutcomeAsync"/>, <see cref="TcpClientStage.SendToConnectionWithOutcomeAsync"/>):
/// decided by the stage as it handed the message over, not by a look at the connections afterwards, so a
/// connection that closes meanwhile does not make a full buffer look like a missing client, or the other way round.
/// </summary>
public enum SendOutcome
{
    /// <summary>In the connection's egress buffer (or already written to its socket); it goes out unless the connection closes first.
    /// For a group or everyone: at least one connection took it.</summary>
    Queued,

    /// <summary>
    /// There was no such open connection: the id is unknown (never seen, or closed and gone), the connection is closing or
    /// closed, or it has not finished its handshake (TLS, or a session framing's) and takes no messages yet. For a message
    /// to any one: no connection was established; the message was then held for the first one when
    /// <see cref="TcpServerStageOptions.QueueWhenDisconnected"/> allows, as a broadcast to nobody is, or dropped. For a group or
    /// everyone: nobody (else) to send to, or none of them open. For a client stage's message to its connection: not connected
    /// and not held (<see cref="DisconnectedEgressPolicy.Drop"/>, the message alone over the hold's bound, or the stage was stopped
    /// or gave up reconnecting); otherwise <see cref="Held"/>.
    /// </summary>
    NoConnection,

    /// <summary>
    /// The connection was there, but the overflow policy (<see cref="TcpServerStageOptions.EgressOverflow"/>) dropped the
    /// message (counted in the stage's dropped egress): the buffer was full (<see cref="EgressOverflowPolicy.Drop"/>),
    /// or stayed full until the wait timed out (<see cref="EgressOverflowPolicy.Wait"/>), or the buffer was full and the client is
    /// closed as a slow consumer (<see cref="EgressOverflowPolicy.Disconnect"/>; until it has closed, later messages to it are dropped too). For a message to any one: every established
    /// connection was full, and the policy acted once. For a group or everyone: there were connections, and the policy dropped it for
    /// every one of them.
    /// </summary>
    Dropped,

    /// <summary>
    /// A <see cref="TcpClientStage"/> was not connected, and under <see cref="DisconnectedEgressPolicy.Hold"/> the message is
    /// held for the next connection (bounded by <see cref="TcpClientStageOptions.EgressBufferBytes"/>: a later message may
    /// push it out, dropped and counted). Not in any connection's buffer yet: it goes out only if a connection comes and it
    /// is still held then. Only the client stage answers this; the server stage's messages held for the first client
    /// (<see cref="TcpServerStageOptions.QueueWhenDisconnected"/>) are <see cref="NoConnection"/>.
    /// </summary>
    Held,
}
