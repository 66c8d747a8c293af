namespace Ferry.Stages;

/// <summary>
/// Serves one connection from start to end (the per-connection model, like Kestrel's
/// <c>ConnectionHandler</c>): read its messages with <see cref="FerryConnection.ReadAsync"/>, answer with
/// <see cref="FerryConnection.SendAsync"/>, keep per-connection state in local variables. Where it runs is
/// <see cref="ConnectionHandlerOptions.Scheduling"/>: by default (<see cref="HandlerScheduling.ThreadPool"/>) on
/// the thread pool, never on the stage's service thread, so it may block or await freely and a slow handler
/// stops only its own connection being read; with <see cref="HandlerScheduling.Inline"/> on the stage's service
/// thread until its first await that does not complete at once, so it may await but must not block (while it
/// runs no other connection of the stage is served; one that holds the thread too long is moved to the pool).
/// When it returns the connection is closed (after what it sent is flushed); when it throws, the error is
/// reported and the connection is closed. A stage's stop cancels its token and waits (within the stop grace
/// period) for it to end.
/// </summary>
/// <param name="connection">The connection, established (after any TLS or session handshake).</param>
/// <param name="cancellationToken">Cancelled when the connection closes or the stage stops.</param>
public delegate Task ConnectionHandler(FerryConnection connection, CancellationToken cancellationToken);
