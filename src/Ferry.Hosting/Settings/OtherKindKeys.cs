namespace Ferry.Hosting.Settings;

/// <summary>
/// The hint for a key that belongs to another kind of stage: <c>bind</c> in a <c>tcp_client</c> got a plain "unknown key", which
/// did not say that a client connects (<c>connect</c>) and that its own address is <c>local_bind</c>. Keys are named in the
/// user's spelling.
/// </summary>
internal static class OtherKindKeys
{
    /// <summary>": what to write instead" for <paramref name="written"/> in a <paramref name="stageType"/> stage, or null when it is no other kind's key.</summary>
    public static string? Hint(string? stageType, string written, KeySpelling say)
    {
        if (stageType is null)
            return null;
        var key = SettingEntries.Normalize(written);
        if (stageType == TlsBlock)
            return CertificateKeyInTls(key, say) ?? CodeOnlyInTls(key);
        bool In(IReadOnlyList<string> keys) => keys.Any(k => SettingEntries.Normalize(k) == key);
        const string bridgeEnds = "bridge_server and bridge_client";
        switch (stageType, key)
        {
            case ("tcp_client", "bind"):
                return $": a tcp_client does not listen, it connects: give where to as {say.Say("connect")}: HOST:PORT, and its own local address, "
                    + $"if it needs one, as {say.Say("local_bind")}: HOST:PORT";
            case ("tcp_server", "connect"):
                return $": a tcp_server does not connect, it listens: give its address as {say.Say("bind")}: HOST:PORT (a tcp_client connects)";
            case ("tcp_server", "localbind"):
                return $": a tcp_server's own address is {say.Say("bind")}: HOST:PORT ({say.Say("local_bind")} is a tcp_client's)";
            case ("tcp_server" or "tcp_client", "socket"):
                // A .NET user binds appsettings to the options and expects every property to be a key; this one is not.
                var options = stageType == "tcp_server" ? "TcpServerStageOptions" : "TcpClientStageOptions";
                return $": the TCP socket options (NoDelay, KeepAlive, KeepAliveIdle, ReceiveBufferSize, SendBufferSize) are set in code only, "
                    + $"as {options}.Socket (e.g. in AddTcpServerStage's or AddTcpClientStage's configure); configuration has no key for them";
            case ("tcp_server" or "tcp_client", "threadpriority" or "threadprocessoraffinity"):
                // The service thread's scheduling is the host's own business, set where the process is built.
                var owning = stageType == "tcp_server" ? "TcpServerStageOptions" : "TcpClientStageOptions";
                return $": the service thread's priority and processor affinity are set in code only, as {owning}.ThreadPriority and "
                    + $"{owning}.ThreadProcessorAffinity (e.g. in AddTcpServerStage's or AddTcpClientStage's configure); configuration has no key for them";
            case ("tcp_server", "acceptfilter"):
                return ": an accept filter is code (a function of the peer), set as TcpServerStageOptions.AcceptFilter in AddTcpServerStage's configure; "
                    + $"configuration has no key for it (for address rules, {say.Say("allow_from")} and {say.Say("deny_from")} are keys)";
            case ("bridge_server" or "bridge_client", "bind" or "connect" or "localbind"):
                return $": a bridge end's address is {say.Say("address")}: HOST with {say.Say("port")}: PORT (it uses PORT and PORT+1)";
        }
        var owner = stageType switch
        {
            "tcp_server" => In(StageReader.ClientKeys) ? "tcp_client" : In(StageReader.BridgeKeys) ? bridgeEnds : null,
            "tcp_client" => In(StageReader.ServerKeys) ? "tcp_server" : In(StageReader.BridgeKeys) ? bridgeEnds : null,
            // A key both TCP stages take (framing, idle_timeout) is said as theirs, not as the server's alone.
            _ => In(StageReader.ServerKeys) && In(StageReader.ClientKeys) ? "tcp_server and tcp_client"
                : In(StageReader.ServerKeys) ? "tcp_server" : In(StageReader.ClientKeys) ? "tcp_client" : null,
        };
        return owner is null ? null : $": '{written}' is a key of {owner} stages, not of {stageType} ones";
    }

    /// <summary>The "stage type" the tls block passes for its own hints: it is no stage, and only the certificate's keys have one.</summary>
    public const string TlsBlock = "tls";

    /// <summary>
    /// <c>Tls: { Protocols: "Tls13" }</c>: <see cref="Ferry.Stages.TlsOptions"/>' TLS versions and ALPN protocols are properties a
    /// configuration has no key for; a plain "unknown key" (or a "did you mean" another key) did not say they exist in code.
    /// </summary>
    private static string? CodeOnlyInTls(string key) => key switch
    {
        "protocols" => ": the TLS versions are set in code only, as TlsOptions.Protocols (default TLS 1.2 and 1.3); configuration has no key for them",
        "applicationprotocols" => ": the ALPN protocols are set in code only, as TlsOptions.ApplicationProtocols; configuration has no key for them",
        _ => null,
    };

    /// <summary>
    /// <c>Tls: { CertificateFile: …, PrivateKeyFile: … }</c>, the certificate's keys written in the tls block rather than in its
    /// <c>certificate</c> block: "did you mean 'CaCertificateFile'?" sent the server's own certificate to the CA bundle, and the key
    /// got no hint. Null for any other key.
    /// </summary>
    private static string? CertificateKeyInTls(string key, KeySpelling say)
    {
        if (key is not ("certificatefile" or "privatekeyfile" or "certificatepem" or "privatekeypem"))
            return null;
        var (certificate, privateKey) = key.EndsWith("file", StringComparison.Ordinal) ? ("certificate_file", "private_key_file") : ("certificate_pem", "private_key_pem");
        return $": the certificate and its key go in the tls block's own {say.Say("certificate")} block: "
            + $"{say.Say("certificate")}: {{{say.Say(certificate)}: …, {say.Say(privateKey)}: …}}";
    }
}
