using Ferry.Stages;

namespace Ferry.Transport.Streams;

/// <summary>A handshake run over a connection's socket stream before any message flows (TLS).</summary>
internal interface IStreamHandshake
{
    /// <summary>The stage's clock (a connection's record deadline is on it).</summary>
    TimeProvider Time { get; }

    /// <summary>Runs the handshake; returns the stream to use from then on and what was negotiated. Throws when it fails.</summary>
    Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken);
}
