namespace Ferry.Bridge.Zmtp;

/// <summary>The ZMTP commands the bridge acts on; everything else is <see cref="Unknown"/> and ignored.</summary>
internal enum ZmtpCommandKind
{
    Unknown,
    Ready,
    Error,
    Ping,
    Pong,
}
