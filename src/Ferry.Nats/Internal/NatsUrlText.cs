namespace Ferry.Nats.Internal;

/// <summary>A NATS server URL as it may be shown: in a log line, an error or <c>ferry check</c>'s summary.</summary>
internal static class NatsUrlText
{
    /// <summary>
    /// <paramref name="url"/> with its secret masked: the password of <c>nats://user:password@host</c> and the token of
    /// <c>nats://token@host</c> become <c>***</c> (as the NATS client masks them in its own lines). Logs are read by more
    /// people than the configuration, and kept longer.
    /// </summary>
    public static string Redacted(string? url)
    {
        if (string.IsNullOrEmpty(url))
            return url ?? "";
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        var hostStart = scheme < 0 ? 0 : scheme + 3;
        var pathStart = url.IndexOfAny(['/', '?', '#'], hostStart);
        var at = url.LastIndexOf('@', pathStart < 0 ? url.Length - 1 : pathStart - 1);
        if (at < hostStart)
            return url;
        var userInfo = url[hostStart..at];
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var shown = colon < 0 ? "***" : userInfo[..colon] + ":***";
        return string.Concat(url.AsSpan(0, hostStart), shown, url.AsSpan(at));
    }
}
