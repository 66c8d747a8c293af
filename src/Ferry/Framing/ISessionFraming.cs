using System.Buffers;

namespace Ferry.Framing;

/// <summary>
/// A framing whose connections hold a conversation of their own beside the messages: a handshake
/// before the first message (ZMTP's greeting and READY) and replies the application never sees
/// (PING → PONG). A stage creates one <see cref="IFramingSession"/> per connection instead of a plain
/// decoder, sends what the session writes, and routes egress to the connection only once the session
/// is established.
/// </summary>
public interface ISessionFraming : IFraming
{
    /// <summary>A connection whose session is not established this long after it opened is closed.</summary>
    TimeSpan HandshakeTimeout { get; }

    /// <summary>
    /// Creates the session of one connection. Whatever the session writes to <paramref name="output"/>
    /// (during <see cref="IFramingSession.Start"/> or a decode call) is sent to the peer ahead of any
    /// message queued after that call returns. The writer belongs to the stage and is shared between its
    /// connections: a session writes to it only inside its own calls and never keeps a span of it.
    /// </summary>
    IFramingSession CreateSession(IBufferWriter<byte> output);
}

/// <summary>
/// The per-connection side of an <see cref="ISessionFraming"/>: a decoder that may also write to the
/// peer. <see cref="IFrameDecoder.Decode"/> returns only application messages; handshake and command
/// traffic is consumed inside it. A handshake failure is <see cref="DecodeStatus.Error"/> of kind
/// <see cref="FrameErrorKind.Protocol"/> (the session may first write a refusal for the peer).
/// </summary>
public interface IFramingSession : IFrameDecoder
{
    /// <summary>Called once when the connection opens: writes what this end says first (a greeting).</summary>
    void Start();

    /// <summary>True once the handshake is complete: messages may flow both ways from now on.</summary>
    bool IsEstablished { get; }
}
