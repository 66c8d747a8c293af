using System.Buffers;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// Messages for everyone (or any one) sent while nobody was connected, kept for the first connection
/// (<c>queue_when_disconnected</c>; the client stage's hold-while-disconnected). Bounded in messages
/// and bytes: a new message that fits the bounds is kept and the oldest held ones are dropped (and
/// counted) to make room for it; a message larger than the byte bound by itself is dropped (and counted)
/// instead, and the held ones stay. Under the connection table's lock, so a router that found nobody
/// and a connection being established cannot miss each other.
/// </summary>
/// <remarks>
/// A message costs its encoded length (what it will take in the connection's egress buffer, whose size is the client's
/// byte bound, so everything held fits there when it is delivered), and at least one byte, so that empty messages are
/// bounded too.
/// </remarks>
internal sealed class HeldEgress(int maxMessages, int maxBytes, StageCounters counters)
{
    private Queue<(byte[] Payload, FrameFields Fields, int Cost)> _messages = new();
    private long _bytes;
    /// <summary>
    /// What was last delivered, and to whom, kept while that connection lasts: a TLS 1.3 server refuses the client's
    /// certificate with an alert only after the client's handshake is over, when these were already written to it, and the
    /// server read none of them (<see cref="ReturnLocked"/>).
    /// </summary>
    private List<(byte[] Payload, FrameFields Fields, int Cost)>? _given;
    private Connection? _givenTo;
    /// <summary>No connection will come (a client stage gave up): nothing is held any more. Under the table lock.</summary>
    private bool _released;

    /// <summary>Keeps the message, or drops and counts it. Under the table lock.</summary>
    /// <returns>Whether the message was kept: false when holding is off, no connection will come, or it alone is over the byte bound.</returns>
    public bool HoldOrDropLocked(in EgressMessage message, IFrameEncoder encoder)
    {
        if (maxMessages == 0 || _released)
        {
            counters.CountDropped(message.Payload.Length);
            return false;
        }
        // Encoded once into scratch space now, so a payload the framing refuses fails its sender here
        // instead of the service thread when the first client arrives.
        var encodedLength = encoder.GetEncodedLength(message.Payload.Length);
        encoder.Encode(message.Payload.Span, message.Fields, new ArrayBufferWriter<byte>(Math.Max(encodedLength, 1)));
        var cost = Math.Max(encodedLength, 1);
        if (cost > maxBytes)
        {
            // Evicting what is held would not make room for it: it goes, they stay.
            counters.CountDropped(message.Payload.Length);
            return false;
        }
        _messages.Enqueue((message.Payload.ToArray(), message.Fields, cost));
        _bytes += cost;
        // The new message fits the bounds by itself, so only older ones are dropped here.
        DropOldestPastBounds();
        return true;
    }

    /// <summary>
    /// No connection will come (a client stage used up its <c>reconnect_attempts</c>): what is held is let go
    /// and counted as dropped, and from now on every message is dropped (and counted) instead of held. Under
    /// the table lock, so a sender that found nobody either held its message before this (and it is dropped
    /// here) or finds it released.
    /// </summary>
    public void ReleaseLocked()
    {
        _released = true;
        while (_messages.TryDequeue(out var held))
            counters.CountDropped(held.Payload.Length);
        _bytes = 0;
    }

    /// <summary>
    /// Gives the first connection what was held. Under the table lock. What is held fits the egress buffer (the
    /// byte bound is its size), so it is queued without the overflow policy: a session's handshake bytes still
    /// queued ahead of it must not cost the last held message, nor close a client that has read nothing yet.
    /// A connection whose close was asked for while it was still being set up (the kill switch during its handshake) takes
    /// none of it: what is held stays for the next connection, as it was held for.
    /// </summary>
    /// <param name="c">The connection.</param>
    /// <param name="writer">Its writer.</param>
    /// <param name="keepGiven">Keep what it is given while it lasts, for <see cref="ReturnLocked"/>: a client's TLS connection,
    /// which its server may still refuse (otherwise nothing is kept: a server's connection is never refused that way).</param>
    public void DeliverLocked(Connection c, ConnectionWriter writer, bool keepGiven)
    {
        _given = null;
        _givenTo = keepGiven ? c : null;
        while (_messages.TryPeek(out var held))
        {
            if (writer.EnqueuePastLimit(c, held.Payload, held.Fields, writer.EncodedLength(held.Payload.Length)) != EnqueueResult.Queued)
                return;
            _messages.Dequeue();
            _bytes -= held.Cost;
            if (keepGiven)
                (_given ??= []).Add(held);
        }
    }

    /// <summary>
    /// <paramref name="c"/> has ended: what it was given from here is no longer kept (its close said nothing of a refusal).
    /// Under the table lock.
    /// </summary>
    public void ForgetGivenLocked(Connection c)
    {
        if (_givenTo != c)
            return;
        _given = null;
        _givenTo = null;
    }

    /// <summary>
    /// The server refused <paramref name="c"/> with a TLS alert after the client's handshake was over (TLS 1.3 mutual TLS):
    /// it read nothing this side wrote, so what it was given from here is held again, ahead of what was held since, for the
    /// next connection, within the bounds (the oldest dropped and counted past them), or dropped and counted when no
    /// connection will come. Only on an alert: a server that merely closed may have read them, and they are not sent twice.
    /// Under the table lock.
    /// </summary>
    public void ReturnLocked(Connection c)
    {
        if (_givenTo != c || _given is null)
            return;
        var given = _given;
        _given = null;
        _givenTo = null;
        if (_released)
        {
            foreach (var lost in given)
                counters.CountDropped(lost.Payload.Length);
            return;
        }
        var again = new Queue<(byte[] Payload, FrameFields Fields, int Cost)>(given.Count + _messages.Count);
        foreach (var held in given)
        {
            again.Enqueue(held);
            _bytes += held.Cost;
        }
        foreach (var held in _messages)
            again.Enqueue(held);
        _messages = again;
        DropOldestPastBounds();
    }

    /// <summary>Drops (and counts) the oldest held messages until the rest fit the bounds. Under the table lock.</summary>
    private void DropOldestPastBounds()
    {
        while (_messages.Count > maxMessages || _bytes > maxBytes)
        {
            var dropped = _messages.Dequeue();
            _bytes -= dropped.Cost;
            counters.CountDropped(dropped.Payload.Length);
        }
    }

    /// <summary>How many messages are held. Under the table lock.</summary>
    public int CountLocked => _messages.Count;
}
