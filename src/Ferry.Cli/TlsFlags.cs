using System.CommandLine;
using Ferry.Hosting.Settings;
using HostNameText = Ferry.Stages.Internal.HostNameText;
using Ferry.Stages;
using Ferry.Transport;

namespace Ferry.Cli;

/// <summary>
/// The TLS and transport flags shared by <c>ferry serve</c> and <c>ferry connect</c>, kept in one place:
/// each command adds them with <see cref="AddTo"/> and reads them back with <see cref="Read"/>.
/// </summary>
internal sealed class TlsFlags
{
    private readonly bool _server;
    private readonly Option<StageTransport> _transport = CliOptions.Choice("--transport", "NAME",
        "auto (default: epoll on Linux, streams elsewhere and for client TLS), epoll or stream",
        ("auto", StageTransport.Auto), ("epoll", StageTransport.Epoll), ("stream", StageTransport.Stream));
    private readonly Option<bool> _tls = CliOptions.Flag("--tls", "speak TLS (implied by the other --tls flags)");
    private readonly Option<string> _cert;
    private readonly Option<string> _key = new("--tls-key") { Description = "the PEM private key of --tls-cert", HelpName = "FILE" };
    private readonly Option<string> _ca;
    private readonly Option<string> _serverName;
    private readonly Option<bool> _insecure;
    private readonly Option<ClientCertificateMode> _clientCert = CliOptions.Choice("--client-cert", "MODE",
        "required, optional or none (default none; required/optional need --tls-ca, or --insecure)",
        ("required", ClientCertificateMode.Required), ("optional", ClientCertificateMode.Optional), ("none", ClientCertificateMode.None));
    private readonly Option<string> _crl = new("--tls-crl") { Description = "a PEM CRL from the --tls-ca CA: listed client certificates are refused as 'revoked' (make one with 'ferry cert crl')", HelpName = "FILE" };
    private readonly Option<TimeSpan> _handshakeTimeout = CliOptions.PositiveDuration("--tls-handshake-timeout", "close a TLS handshake not done by then (default 10s)");

    public TlsFlags(bool server)
    {
        _server = server;
        _cert = new Option<string>("--tls-cert")
        {
            Description = server ? "serve TLS with this PEM certificate (and chain); needs --tls-key" : "present this client certificate (with --tls-key)",
            HelpName = "FILE",
        };
        _ca = new Option<string>("--tls-ca")
        {
            Description = server ? "PEM CA bundle that client certificates must chain to (mutual TLS)" : "PEM CA bundle the server's certificate must chain to (default: the system's)",
            HelpName = "FILE",
        };
        _serverName = new Option<string>("--tls-server-name")
        {
            Description = server
                ? "the name clients reach this server by: --tls-cert must carry it, and a client asking (SNI) for another name is refused"
                : "SNI and the name checked in the server's certificate (default: the host)",
            HelpName = "NAME",
        };
        _insecure = CliOptions.Flag("--insecure", server
            ? "accept client certificates that fail their checks (with --client-cert; development only; logged as a warning)"
            : "accept any server certificate (development only; logged as a warning)");
    }

    /// <summary>Adds the flags that apply to a server or a client command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_transport);
        command.Options.Add(_cert);
        command.Options.Add(_key);
        command.Options.Add(_ca);
        command.Options.Add(_handshakeTimeout);
        command.Options.Add(_serverName);
        command.Options.Add(_insecure);
        if (_server)
        {
            command.Options.Add(_clientCert);
            command.Options.Add(_crl);
            return;
        }
        command.Options.Add(_tls);
    }

    /// <summary>The transport asked for (auto when not given) and the TLS options; null TLS when no TLS flag was given.</summary>
    /// <exception cref="CliException">Flags that do not go together, or a file they name that cannot be used (see <see cref="TlsFlagFiles"/>).</exception>
    public (StageTransport Transport, TlsOptions? Tls) Read(ParseResult result)
    {
        var transport = result.ValueOr(_transport, StageTransport.Auto);
        var cert = result.ValueOr(_cert, null!);
        var key = result.ValueOr(_key, null!);
        var ca = result.ValueOr(_ca, null!);
        var clientCert = _server ? result.ValueOr(_clientCert, ClientCertificateMode.None) : ClientCertificateMode.None;
        var crl = _server ? result.ValueOr(_crl, null!) : null;
        var serverName = result.ValueOr(_serverName, null!);
        // Every fault at once, the files' with the flags': '--tls-cert /nope.pem' alone said only that --tls-key was missing,
        // and the missing file came out on the next run.
        var problems = new List<string>();
        if (serverName is not null && !HostNameText.IsValid(serverName))
            problems.Add($"--tls-server-name '{serverName}' {TlsOptions.ServerNameNotAName(_server)}");
        var insecure = result.ValueOr(_insecure, false);
        // Any TLS flag turns TLS on: one given alone (a CRL, a handshake timeout) must not be dropped for a plain TCP stage.
        var secure = cert is not null || key is not null || ca is not null || clientCert != ClientCertificateMode.None || crl is not null
            || serverName is not null || insecure || result.GetResult(_handshakeTimeout) is { Implicit: false } || (!_server && result.ValueOr(_tls, false));
        if (!secure)
            return (transport, null);
        if (_server && cert is null && key is null && GivenTlsFlags(result) is var given)
            problems.Add($"{string.Join(", ", given)} {(given.Count == 1 ? "turns" : "turn")} TLS on, "
                + "and a TLS server needs --tls-cert and --tls-key (its PEM certificate and private key)");
        if (cert is not null && key is null)
            problems.Add("--tls-cert needs --tls-key (the certificate's PEM private key): --tls-cert and --tls-key go together");
        if (key is not null && cert is null)
            problems.Add("--tls-key needs --tls-cert (the PEM certificate of that key): --tls-cert and --tls-key go together");
        // Accepting any client certificate needs no CA to check them against.
        if (_server && clientCert != ClientCertificateMode.None && ca is null && !insecure)
            problems.Add("--client-cert required|optional needs --tls-ca (the CA client certificates must chain to), or --insecure to accept any (development only)");
        if (_server && insecure && clientCert == ClientCertificateMode.None)
            problems.Add("--insecure on a server accepts client certificates that fail their checks, and needs --client-cert required|optional (without it no client certificate is asked for)");
        if (crl is not null && clientCert == ClientCertificateMode.None)
            problems.Add("--tls-crl needs --client-cert required|optional and --tls-ca (it revokes client certificates of that CA)");
        else if (crl is not null && ca is null)
            problems.Add("--tls-crl needs --tls-ca, the CA whose list it is (with --insecure too: a revoked certificate is still refused)");
        TlsFlagFiles.Check(cert, key, ca, crl, problems);
        if (problems.Count > 0)
            throw new CliException(string.Join("; ", problems));
        var options = new TlsOptions
        {
            Secure = true,
            Certificate = cert is null ? null : new TlsCertificate { CertificateFile = cert, PrivateKeyFile = key },
            CaCertificateFile = ca,
            ServerName = serverName,
            AcceptInvalidCertificates = insecure,
            ClientCertificate = clientCert,
            CertificateRevocationListFile = crl,
        };
        return (transport, result.TryGet(_handshakeTimeout, out var timeout) ? options with { HandshakeTimeout = timeout } : options);
    }

    /// <summary>The TLS flags given on the command line, for a message that says which of them asked for TLS.</summary>
    private List<string> GivenTlsFlags(ParseResult result)
    {
        Option[] flags = [_ca, _clientCert, _crl, _serverName, _insecure, _handshakeTimeout];
        return [.. flags.Where(f => result.GetResult(f) is { Implicit: false }).Select(f => f.Name)];
    }

    /// <summary>
    /// Builds the command's stage, whose constructor loads the TLS material: what only loading finds (a CRL that another CA
    /// signed) becomes a one-line <see cref="CliException"/> that names the flag and the file, before anything binds.
    /// </summary>
    public static TStage Build<TStage>(Func<TStage> create, TlsOptions? tls)
    {
        try
        {
            return create();
        }
        catch (Exception ex) when (ex is ArgumentException or System.Security.Cryptography.CryptographicException) // StageOptionsException is an ArgumentException
        {
            // The command's one stage needs no name in the message: the problems alone, each naming its flag.
            throw new CliException(TlsFlagFiles.Describe(ex is StageOptionsException options ? string.Join("; ", options.KeyedProblems) : ex.Message, tls));
        }
    }
}
