using System.Net;

namespace Ferry.Stages;

/// <summary>What an accept filter (<see cref="TcpServerStageOptions.AcceptFilter"/>) knows about a connection before any byte is read.</summary>
/// <param name="Peer">The client's address and port.</param>
/// <param name="Local">The local address and port it connected to.</param>
/// <param name="ConnectionsFromAddress">How many connections from the same address the stage holds now (this one not counted).</param>
public sealed record AcceptContext(IPEndPoint Peer, IPEndPoint Local, int ConnectionsFromAddress);
