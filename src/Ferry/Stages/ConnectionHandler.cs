namespace Ferry.Stages;

/// <summary>
/// Serves one connection from start to end (the per-connection model, like Kestrel's
/// <c>ConnectionHandler</c>): read its messages with <see cref="FerryConnection.ReadAsync"/>, answer with
/// <see cref="FerryConnection.SendAsync"/>, keep per-connection state in local variables. Runs on the
/// thread pool, never on the stage's service thread, so it may await freely; a slow handler stops only
/// its own connection being read. When it returns the connection is closed (after what it sent is
/// flushed); when it throws, the error is reported and the connection is closed. A stage's stop cancels
/// its token and waits (within the stop grace period) for it to end.
/// </summary>
/// <param name="connection">The connection, established (after any TLS or session handshake).</param>
/// <param name="cancellationToken">Cancelled when the connection closes or the stage stops.</param>
public delegate Task ConnectionHandler(FerryConnection connection, CancellationToken cancellationToken);
