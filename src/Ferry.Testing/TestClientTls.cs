using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Testing;

/// <summary>The TLS side of a <see cref="FramedTestClient"/>: whom to trust, what to present, which name to ask for.</summary>
public sealed record TestClientTls
{
    /// <summary>The name sent in SNI and checked against the server's certificate.</summary>
    public string ServerName { get; init; } = "localhost";

    /// <summary>A certificate authority the server's certificate must chain to (a test CA, not installed
    /// on the machine); when null, the machine's trust store decides.</summary>
    public X509Certificate2? TrustedAuthority { get; init; }

    /// <summary>Accept any server certificate without checking it (only for tests about something else).</summary>
    public bool AcceptAnyServerCertificate { get; init; }

    /// <summary>The certificate (with its private key) to present when the server asks for one; none when null.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>The TLS versions offered.</summary>
    public SslProtocols Protocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>ALPN protocols offered, in order of preference; none when null.</summary>
    public IReadOnlyList<string>? ApplicationProtocols { get; init; }
}
