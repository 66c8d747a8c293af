using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>The PROXY protocol options' checks, shared by the stage options and the settings readers.</summary>
internal static class ProxyProtocolChecks
{
    public static void Validate(List<string> problems, ProxyProtocol mode, IReadOnlyList<string>? trusted, TimeSpan headerTimeout)
    {
        if (!Enum.IsDefined(mode))
            problems.Add($"option 'proxy_protocol': {mode} is not allowed; must be off, v1, v2 or any");
        foreach (var entry in trusted ?? [])
            if (!NetworkText.TryParse(entry, addressAlone: true, out _, out var problem))
                problems.Add($"option 'trusted_proxies': '{entry}' {problem}");
        // Trusted proxies without the protocol would be trusted for nothing: a header they send is read as the client's bytes.
        if (mode == ProxyProtocol.Off && trusted is { Count: > 0 })
            problems.Add($"option 'trusted_proxies': has no effect while {StageOptionsException.Mark("proxy_protocol")} is off; set it to v1, v2 or any to read their PROXY headers, or leave trusted_proxies out");
        if (mode != ProxyProtocol.Off && (trusted is null || trusted.Count == 0))
            problems.Add($"option 'trusted_proxies': must name at least one proxy address or network when {StageOptionsException.Mark("proxy_protocol")} is {mode.ToString().ToLowerInvariant()} (a header is believed only from them)");
        if (headerTimeout < TimeSpan.FromMilliseconds(1) || headerTimeout > TimeSpan.FromHours(1))
            problems.Add($"option 'proxy_header_timeout': {Internal.DurationWords.Of(headerTimeout)} is not allowed; must be from 1ms to 1h");
    }
}
