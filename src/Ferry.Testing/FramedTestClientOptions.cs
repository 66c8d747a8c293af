using Ferry.Framing;

namespace Ferry.Testing;

/// <summary>How a <see cref="FramedTestClient"/> talks to the server.</summary>
public sealed record FramedTestClientOptions
{
    /// <summary>How messages are framed on the wire (any framing of a <see cref="FramingRegistry"/>, e.g.
    /// <c>FramingSpec.Parse("length,bytes=2,endian=big")</c>); <c>raw</c> when null.</summary>
    public IFraming? Framing { get; init; }

    /// <summary>TLS settings; a plain TCP connection when null.</summary>
    public TestClientTls? Tls { get; init; }

    /// <summary>Bytes sent in the clear right after the connect, before any TLS handshake or session
    /// greeting: a proxy's PROXY protocol header, for example. None when empty.</summary>
    public ReadOnlyMemory<byte> Preface { get; init; }

    /// <summary>How long each connect, send and receive may take unless the call says otherwise.</summary>
    public TimeSpan Timeout { get; init; } = Poll.DefaultTimeout;
}
