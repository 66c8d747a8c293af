namespace Ferry.Tests.Hosting;

/// <summary>
/// A message that names another key (what to give instead, what to combine, what is missing) names it as the user spells keys:
/// a PascalCase appsettings.json is told <c>CaCertificatePem</c>, <c>Host</c> and <c>Port</c>, <c>IdleTimeout</c>, never the
/// run files' <c>ca_certificate_pem</c>. One case per message family, each with the whole failure line.
/// </summary>
public sealed class KeySpellingMessageTests
{
    private static Task<IReadOnlyList<string>> HostFailuresAsync(string stages) => HostStartFailures.OfAsync($$"""{ "Ferry": { "Stages": { {{stages}} } } }""");

    [Theory]
    // The tls block: its allowed keys, the keys a misplaced key points to, what it needs, what it cannot combine.
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": "yes" }
        """, "configuration 'Ferry:Stages:front:Tls': Stages.front.Tls: 'yes' must be a block (Secure, Certificate, CaCertificatePem, CaCertificateFile, ServerName, "
        + "AcceptInvalidCertificates, ClientCertificate, HandshakeTimeout, CertificateRevocationListPem, CertificateRevocationListFile)")]
    [InlineData("""
        "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "Secure": true, "ClientCertificate": "required" } }
        """, "configuration 'Ferry:Stages:back:Tls:ClientCertificate': Stages.back.Tls.ClientCertificate: 'required' only applies to server stages; "
        + "a client stage presents its own certificate in 'Certificate'")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": { "Secure": true, "AcceptInvalidCertificates": true } }
        """, "configuration 'Ferry:Stages:front:Tls:AcceptInvalidCertificates': Stages.front.Tls.AcceptInvalidCertificates: 'True' on a server accepts client certificates "
        + "that fail their checks (development only), but this server asks for none; set ClientCertificate to optional or required, or leave it false")]
    [InlineData("""
        "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "Secure": true, "CaCertificatePem": "x", "CaCertificateFile": "y" } }
        """, "configuration 'Ferry:Stages:back:Tls:CaCertificateFile': Stages.back.Tls.CaCertificateFile: 'y' cannot be combined with 'CaCertificatePem'; give one of them")]
    [InlineData("""
        "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "Secure": true, "CertificateRevocationListPem": "x", "CertificateRevocationListFile": "y" } }
        """, "configuration 'Ferry:Stages:back:Tls:CertificateRevocationListFile': Stages.back.Tls.CertificateRevocationListFile: 'y' cannot be combined with "
        + "'CertificateRevocationListPem'; give one of them")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": { "Secure": true } }
        """, "configuration 'Ferry:Stages:front:Tls': Stages.front.Tls.Certificate: missing key 'Certificate': a TLS server needs CertificatePem and PrivateKeyPem "
        + "(or CertificateFile and PrivateKeyFile)")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": { "Secure": true, "ClientCertificate": "required" } }
        """, "configuration 'Ferry:Stages:front:Tls:ClientCertificate': Stages.front.Tls.ClientCertificate: 'required' needs CaCertificatePem or CaCertificateFile "
        + "(the CA client certificates must chain to)")]
    [InlineData("""
        "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "ServerName": "db.example" } }
        """, "configuration 'Ferry:Stages:back:Tls': Stages.back.Tls.Secure: missing key 'Secure': without Secure: true TLS is off (the stage would serve plain TCP), "
        + "but the block sets ServerName: set Secure: true to serve TLS, or remove the TLS settings")]
    [InlineData("""
        "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "Secure": false, "ServerName": "db.example", "AcceptInvalidCertificates": true } }
        """, "configuration 'Ferry:Stages:back:Tls:Secure': Stages.back.Tls.Secure: 'False' turns TLS off (the stage would serve plain TCP), "
        + "but the block sets ServerName, AcceptInvalidCertificates: set Secure: true to serve TLS, or remove the TLS settings")]
    // The tls certificate block.
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": { "Secure": true, "Certificate": "cert.pem" } }
        """, "configuration 'Ferry:Stages:front:Tls:Certificate': Stages.front.Tls.Certificate: 'cert.pem' must be a block (CertificatePem, PrivateKeyPem, CertificateFile, PrivateKeyFile)")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": { "Secure": true, "Certificate": { "CertificatePem": "x", "CertificateFile": "y" } } }
        """, "configuration 'Ferry:Stages:front:Tls:Certificate:CertificateFile': Stages.front.Tls.Certificate.CertificateFile: 'y' cannot be combined with 'CertificatePem'; "
        + "give the certificate once")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Tls": { "Secure": true, "Certificate": { "CertificateFile": "y" } } }
        """, "configuration 'Ferry:Stages:front:Tls:Certificate': Stages.front.Tls.Certificate.PrivateKeyPem: missing key 'PrivateKeyPem' (or 'PrivateKeyFile'): "
        + "the private key as PEM text (or a PEM file)")]
    // Addresses: bind/connect or host and port; a bridge's address or host.
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Port": 9000 }
        """, "configuration 'Ferry:Stages:front:Bind': Stages.front.Bind: '127.0.0.1:0' cannot be combined with 'Port': give Bind, or Host and Port, not both")]
    [InlineData("""
        "back": { "Type": "tcp_client", "Host": "127.0.0.1" }
        """, "configuration 'Ferry:Stages:back:Host': Stages.back.Host: '127.0.0.1' needs 'Port' beside it")]
    [InlineData("""
        "b": { "Type": "bridge_server", "Address": "127.0.0.1", "Host": "127.0.0.1", "Port": 7000 }
        """, "configuration 'Ferry:Stages:b:Host': Stages.b.Host: '127.0.0.1' cannot be combined with 'Address': give Address or Host, not both")]
    [InlineData("""
        "back": { "Type": "tcp_client", "FrameTimeout": "1s" }
        """, "configuration 'Ferry:Stages:back': Stages.back.Config.Connect: missing key 'Connect' (a tcp client needs the remote address, e.g. \"10.0.1.5:4000\")")]
    // Keys that exclude or bound each other.
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "IdleTimeout": "1s", "TimeoutSeconds": 1 }
        """, "configuration 'Ferry:Stages:front:TimeoutSeconds': Stages.front.TimeoutSeconds: '1' cannot be combined with 'IdleTimeout': give IdleTimeout or TimeoutSeconds, not both")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "BindRetryDelay": "10s", "BindRetryMaxDelay": "1s" }
        """, "configuration 'Ferry:Stages:front:BindRetryDelay': Stages.front.BindRetryDelay: '10s' is above BindRetryMaxDelay '1s'; the first wait must not be above the cap: "
        + "lower BindRetryDelay or raise BindRetryMaxDelay")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Framing": "lines", "DelimiterInclude": true }
        """, "configuration 'Ferry:Stages:front:DelimiterInclude': Stages.front.DelimiterInclude: 'True' cannot be combined with 'Framing'; put it in the framing spec, "
        + "e.g. delimiter,delimiter=\\x03,include=true")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "ConnectionRatePerIp": -1 }
        """, "configuration 'Ferry:Stages:front:ConnectionRatePerIp': Stages.front.ConnectionRatePerIp: '-1' is not allowed; use a whole number from 0 to 2147483647 "
        + "(connections per ConnectionRateWindow; 0 = unlimited)")]
    // A key given twice (in two spellings) is named in the block's spelling.
    [InlineData("""
        "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "MaxConnections": 1, "max_connections": 2 }
        """, "configuration 'Ferry:Stages:front:max_connections': Stages.front.max_connections: 'MaxConnections' is given twice (first at configuration 'Ferry:Stages:front:MaxConnections')")]
    // The stage's own keys: type and mode.
    [InlineData("""
        "front": { "Bind": "127.0.0.1:0" }
        """, "configuration 'Ferry:Stages:front': Stages.front.Type: missing key 'Type' (allowed: tcp_server, tcp_client, io_tcp, bridge_server, bridge_client)")]
    [InlineData("""
        "front": { "Type": "io_tcp", "Bind": "127.0.0.1:0" }
        """, "configuration 'Ferry:Stages:front': Stages.front.Config.Mode: missing key 'Mode' for Type io_tcp (allowed: server, client)")]
    [InlineData("""
        "front": { "Type": "tcp_server", "Mode": "client", "Bind": "127.0.0.1:0" }
        """, "configuration 'Ferry:Stages:front:Mode': Stages.front.Mode: 'client' contradicts Type 'tcp_server'; leave Mode out, or use Type io_tcp")]
    [InlineData("""
        "front": { "Type": "io_tcp", "Mode": "server", "MaxConnections": 3 }
        """, "configuration 'Ferry:Stages:front': Stages.front.Config.Bind: missing key 'Bind' (io_tcp Mode server needs it, e.g. \":3034\")")]
    public async Task A_pascal_case_appsettings_is_told_the_other_keys_in_pascal_case(string stages, string expected)
    {
        var failures = await HostFailuresAsync(stages);
        Assert.Contains(expected, failures);
    }
}
