using Ferry.Stages;
using Ferry.Transport;

namespace Ferry.Cli;

/// <summary>
/// The TLS and transport flags shared by <c>ferry serve</c> and <c>ferry connect</c>, kept in one place
/// so each command only asks <see cref="TryRead"/> about flags it does not know itself.
/// </summary>
internal sealed class TlsFlags(bool server)
{
    public const string ServeUsage = """
          --transport NAME          auto (default: epoll on Linux, streams elsewhere and for TLS), epoll or stream
          --tls-cert FILE           serve TLS with this PEM certificate (and chain); needs --tls-key
          --tls-key FILE            the PEM private key of --tls-cert
          --tls-ca FILE             PEM CA bundle that client certificates must chain to (mutual TLS)
          --client-cert MODE        required, optional or none (default none; required/optional need --tls-ca)
          --tls-handshake-timeout DURATION  close a TLS handshake not done by then (default 10s)
        """;

    public const string ConnectUsage = """
          --transport NAME          auto (default: epoll on Linux, streams elsewhere and for TLS), epoll or stream
          --tls                     speak TLS (implied by the other --tls flags)
          --tls-ca FILE             PEM CA bundle the server's certificate must chain to (default: the system's)
          --tls-server-name NAME    SNI and the name checked in the server's certificate (default: the host)
          --tls-cert FILE           present this client certificate (with --tls-key)
          --tls-key FILE            the PEM private key of --tls-cert
          --insecure                accept any server certificate (development only; logged as a warning)
        """;

    private bool _secure;
    private string? _cert;
    private string? _key;
    private string? _ca;
    private string? _serverName;
    private bool _insecure;
    private ClientCertificateMode _clientCertificate;
    private TimeSpan? _handshakeTimeout;

    public StageTransport Transport { get; private set; } = StageTransport.Auto;

    /// <summary>Reads one of these flags (and its value); false when <paramref name="flag"/> is not one of them.</summary>
    public bool TryRead(string flag, CliArguments reader)
    {
        switch (flag)
        {
            case "--transport":
                var name = reader.Value(flag);
                Transport = name switch
                {
                    "auto" => StageTransport.Auto,
                    "epoll" => StageTransport.Epoll,
                    "stream" => StageTransport.Stream,
                    _ => throw new CliException($"--transport '{name}' is not allowed; use auto, epoll or stream"),
                };
                return true;
            case "--tls" when !server: _secure = true; return true;
            case "--tls-cert": _cert = reader.Value(flag); _secure = true; return true;
            case "--tls-key": _key = reader.Value(flag); _secure = true; return true;
            case "--tls-ca": _ca = reader.Value(flag); _secure = true; return true;
            case "--tls-server-name" when !server: _serverName = reader.Value(flag); _secure = true; return true;
            case "--insecure" when !server: _insecure = true; _secure = true; return true;
            case "--tls-handshake-timeout": _handshakeTimeout = reader.Duration(flag); return true;
            case "--client-cert" when server:
                var mode = reader.Value(flag);
                _clientCertificate = mode switch
                {
                    "required" => ClientCertificateMode.Required,
                    "optional" => ClientCertificateMode.Optional,
                    "none" => ClientCertificateMode.None,
                    _ => throw new CliException($"--client-cert '{mode}' is not allowed; use required, optional or none"),
                };
                _secure |= _clientCertificate != ClientCertificateMode.None;
                return true;
            default:
                return false;
        }
    }

    /// <summary>The stage's TLS options from the flags read; null when no TLS flag was given.</summary>
    public TlsOptions? Build()
    {
        if (!_secure)
            return null;
        if ((_cert is null) != (_key is null))
            throw new CliException("--tls-cert and --tls-key go together");
        if (server && _clientCertificate != ClientCertificateMode.None && _ca is null)
            throw new CliException("--client-cert required|optional needs --tls-ca (the CA client certificates must chain to)");
        var options = new TlsOptions
        {
            Secure = true,
            Certificate = _cert is null ? null : new TlsCertificate { CertificateFile = _cert, PrivateKeyFile = _key },
            CaCertificateFile = _ca,
            ServerName = _serverName,
            AcceptInvalidCertificates = _insecure,
            ClientCertificate = _clientCertificate,
        };
        return _handshakeTimeout is { } timeout ? options with { HandshakeTimeout = timeout } : options;
    }
}
