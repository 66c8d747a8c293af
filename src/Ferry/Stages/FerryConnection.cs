using System.Net;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>
/// One connection as its <see cref="ConnectionHandler"/> sees it: who it is, its messages in order,
/// a way to answer, its groups, and a way to close it. Safe to use from any thread.
/// </summary>
/// <example>
/// <code>
/// stage.MapConnections(async (connection, ct) =>
/// {
///     var count = 0; // per-connection state is a local variable
///     await foreach (var message in connection.ReadAsync(ct))
///         await connection.SendAsync(message.Payload, cancellationToken: ct);
/// });
/// </code>
/// </example>
public sealed class FerryConnection
{
    private readonly Connection _connection;
    private readonly ConnectionInbox _inbox;
    private readonly StageEngine _engine;
    private readonly IThreadPoolWorkItem _flush;

    internal FerryConnection(Connection connection, ConnectionInbox inbox, StageEngine engine, CancellationToken closed)
    {
        _connection = connection;
        _inbox = inbox;
        _engine = engine;
        _flush = engine.Writer.DeferredFlushFor(connection);
        ConnectionClosed = closed;
    }

    /// <summary>The connection's id (the one in packets, events and the registry).</summary>
    public ConnectionId Id => _connection.Id;

    /// <summary>The remote address and port.</summary>
    public IPEndPoint Peer => _connection.Peer;

    /// <summary>The local address and port.</summary>
    public IPEndPoint Local => _connection.Local;

    /// <summary>What TLS negotiated (protocol, cipher suite, SNI name, ALPN, peer certificate); null for a plain connection.</summary>
    public TlsConnectionInfo? Tls => _connection.Tls;

    /// <summary>Cancelled when the connection has closed (for any reason) or the stage stops.</summary>
    public CancellationToken ConnectionClosed { get; }

    /// <summary>Whether the connection has closed.</summary>
    public bool IsClosed => Volatile.Read(ref _connection.Closed);

    /// <summary>The groups the connection belongs to now.</summary>
    public IReadOnlyList<string> Groups => _engine.Groups.GroupsOf(_connection);

    /// <summary>
    /// The connection's messages in order of arrival. Ends when the connection has closed, or its peer has
    /// finished sending (a half-close: the connection then stays open for the answer, and closes once the
    /// handler has returned and what it sent is written), and every message that arrived before is read. Read it from one place at a time. While the handler does not
    /// read, messages wait in a bounded inbox; when it is full the stage stops reading this connection
    /// (its client's TCP window closes) and reads it again once the handler has worked through half of them.
    /// A loop left early (<c>break</c>, <c>return</c>, an exception) loses nothing: the next <c>ReadAsync</c>
    /// goes on with the first message that loop did not hand out, so "read the login line, then loop over
    /// the session" works however the client's bytes were segmented.
    /// </summary>
    /// <remarks>
    /// <b>A message is valid until the loop moves on</b> (the enumerator's next <c>MoveNextAsync</c>; for the
    /// message a loop was left at, the first <c>MoveNextAsync</c> of the next <c>ReadAsync</c> loop, or the
    /// handler's end): its payload sits in pooled memory that is then recycled, and reading a message kept
    /// past that throws <see cref="ObjectDisposedException"/> — it never shows another message's bytes. Keep
    /// data with <see cref="ConnectionMessage.ToArray"/> or <see cref="ConnectionMessage.Retain"/>.
    /// </remarks>
    /// <param name="cancellationToken">Ends the wait for the next message with <see cref="OperationCanceledException"/>; messages already queued are still handed out first.</param>
    public IAsyncEnumerable<ConnectionMessage> ReadAsync(CancellationToken cancellationToken = default) => new InboxReader(_inbox, cancellationToken);

    /// <summary>
    /// Sends one message on this connection, encoded with the stage's framing. Completes with false when
    /// the connection has closed or the overflow policy dropped it; under the <c>wait</c> policy it waits
    /// (up to <c>egress_wait_timeout</c>) while the client is slow. The payload is copied before the task
    /// completes, and the task completes at once unless the <c>wait</c> policy has to wait.
    /// </summary>
    /// <remarks>
    /// Messages are written to the socket when the calling thread is next free: sent from a handler, all
    /// the answers to one batch of messages go out in one <c>send</c> when the handler awaits its next
    /// messages (or awaits anything else, or returns), not one send per call. A handler that sends a lot
    /// without awaiting has it written every 64 KiB.
    /// </remarks>
    /// <exception cref="FramingException">The framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent or counted; a handler's own token is cancelled when the stage stops, so an answer meant to go out
    /// during the stop's grace period is sent without it) or while the message waited for room.</exception>
    public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> payload, FrameFields fields = default, CancellationToken cancellationToken = default)
        => cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled<bool>(cancellationToken)
            : _engine.Router.SendToAsync(_connection, payload, fields, cancellationToken, _flush);

    /// <summary>Adds the connection to a group (created on first join); false when it has closed. A refused join (either
    /// exception below) changes nothing and leaves the connection open; a handler that lets it escape ends, as for any exception.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space, or longer than the stage's
    /// <c>max_group_name_length</c>.</exception>
    /// <exception cref="InvalidOperationException">The connection is in the stage's <c>max_groups_per_connection</c> groups already.</exception>
    public bool JoinGroup(string group) => _engine.Groups.Join(Id, group);

    /// <summary>Removes the connection from a group; false when it was not a member.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space.</exception>
    public bool LeaveGroup(string group) => _engine.Groups.Leave(Id, group);

    /// <summary>Closes the connection after what was already sent is flushed; its disconnected event carries reason
    /// <c>killed</c>, <paramref name="reason"/> as detail and <paramref name="code"/>. Does nothing once it has closed.</summary>
    public void Close(string? reason = null, string? code = null)
        => _engine.RequestClose(_connection, new CloseRequest(DisconnectReason.Killed, reason, code) { Flush = true });

    /// <inheritdoc/>
    public override string ToString() => $"{Id} ({Peer})";
}
