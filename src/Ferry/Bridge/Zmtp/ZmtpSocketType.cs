namespace Ferry.Bridge.Zmtp;

/// <summary>The ZeroMQ socket types the bridge speaks. Rogue only ever pairs PUSH with PULL.</summary>
internal enum ZmtpSocketType
{
    Push,
    Pull,
}

/// <summary>Wire names (the READY command's <c>Socket-Type</c> property) and the pairing rule.</summary>
internal static class ZmtpSocketTypes
{
    public static ReadOnlySpan<byte> PushName => "PUSH"u8;

    public static ReadOnlySpan<byte> PullName => "PULL"u8;

    public static ReadOnlySpan<byte> GetName(ZmtpSocketType type) => type == ZmtpSocketType.Push ? PushName : PullName;

    /// <summary>
    /// True when a peer announcing <paramref name="peerName"/> may talk to a <paramref name="local"/>
    /// socket: RFC 37 only allows PUSH with PULL. Socket type names are case-sensitive on the wire.
    /// </summary>
    public static bool IsCompatiblePeer(ZmtpSocketType local, ReadOnlySpan<byte> peerName) =>
        local == ZmtpSocketType.Push ? peerName.SequenceEqual(PullName) : peerName.SequenceEqual(PushName);
}
