using System.Net;
using Ferry.Connections;
using Ferry.Transport.Proxy;

namespace Ferry.Stages.Internal;

/// <summary>
/// The PROXY protocol in front of the framing: decides at accept which connections must send a header
/// (those from trusted proxies) and which must not (everyone else), takes the header off the first
/// bytes, makes the real client the connection's peer (the proxy kept as <c>via</c>), and applies
/// per-address admission to that client before the connection is established. Service thread.
/// </summary>
/// <remarks>
/// The bytes come through the frame reader on both transports; under TLS the stream transport reads
/// exactly the header in the clear and starts the TLS handshake only when <see cref="Consume"/> has
/// accepted it (<see cref="Transport.IConnectionIo.ProxyHeaderTaken"/>), so a refused client costs no handshake.
/// </remarks>
internal sealed class ProxyHeaderGate
{
    /// <summary><see cref="Consume"/>: more bytes are needed.</summary>
    public const int NeedMore = -1;

    /// <summary><see cref="Consume"/>: the connection was closed.</summary>
    public const int Closed = -2;

    private readonly ProxyProtocol _mode;
    private readonly ProxyTrust _trust;
    private readonly AdmissionControl _admission;
    private readonly StageEngine _engine;

    public ProxyHeaderGate(ProxyProtocol mode, ProxyTrust trust, AdmissionControl admission, StageEngine engine)
    {
        _mode = mode;
        _trust = trust;
        _admission = admission;
        _engine = engine;
    }

    /// <summary>What a new connection from <paramref name="peer"/> owes: a header (trusted proxy) or none (anyone else).</summary>
    public ProxyHeaderState StateFor(IPEndPoint peer) => _trust.Trusts(peer.Address) ? ProxyHeaderState.Expected : ProxyHeaderState.Screen;

    /// <summary>
    /// Looks at the bytes a connection has sent so far (a header, or an untrusted peer's signature, may
    /// arrive in pieces): the header's length when it is done with them (the bytes after it are the
    /// client's; 0 for a screened connection without one), <see cref="NeedMore"/>, or <see cref="Closed"/>.
    /// </summary>
    public int Consume(Connection c, ReadOnlySpan<byte> input)
    {
        if (c.ProxyHeader == ProxyHeaderState.Screen)
        {
            if (ProxyHeaderParser.StartsWithSignature(input))
            {
                Refuse(c, DisconnectReason.ProxyProtocol, $"a PROXY header from {c.Peer.Address}, which is not in trusted_proxies");
                return Closed;
            }
            // A signature split across reads ("PRO", then "XY ...") must be judged as if it had come in
            // one: its first bytes are held (fewer than 12, like a partial frame) until the next tell.
            if (ProxyHeaderParser.MayBeginSignature(input))
                return NeedMore;
            c.ProxyHeader = ProxyHeaderState.None;
            return 0;
        }
        switch (ProxyHeaderParser.Parse(input, _mode, out var header, out var length, out var error))
        {
            case ProxyParseStatus.NeedMore:
                return NeedMore;
            case ProxyParseStatus.Invalid:
                Refuse(c, DisconnectReason.ProxyProtocol, $"from trusted proxy {c.Peer}: {error}");
                return Closed;
        }
        c.ProxyHeader = ProxyHeaderState.None;
        if (header.Source is { } client)
        {
            // The proxy spoke for a client: from here on the client is the peer, in every event and packet.
            c.Via = c.Peer;
            c.Peer = client;
            if (_admission.Active && _admission.Check(client, c.Local) is var (reason, why))
            {
                // Counted as closed and rejected, as a refusal at accept is.
                Refuse(c, reason, why + $" (via {c.Via})", rejected: true);
                return Closed;
            }
            _admission.Opened(c);
        }
        c.Io.ProxyHeaderTaken();
        if (!c.HandshakePending && !_engine.HasSessions)
            _engine.Establish(c);
        return length;
    }

    /// <summary>Closes with a reset: a peer that broke the protocol gets nothing more from this stage.</summary>
    private void Refuse(Connection c, DisconnectReason reason, string detail, bool rejected = false)
    {
        if (_engine.Events.MayWarn(WarningKind.Rejected))
            Log.Rejected(_engine.Events.Logger, _engine.Name, c.Id, c.Peer, detail);
        if (rejected)
            _engine.CloseRejected(c, reason, detail);
        else
            _engine.Close(c, reason, detail);
    }
}
