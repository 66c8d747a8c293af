namespace Ferry.Bridge.Zmtp;

/// <summary>How the <c>zmtp</c> framing maps a ZeroMQ message to one application message.</summary>
internal enum ZmtpMessageFormat
{
    /// <summary>Rogue's stream frame: four parts, flags (2 octets, little-endian), channel (1), error (1),
    /// payload; the first three travel in <see cref="Ferry.Framing.FrameFields"/>.</summary>
    Rogue,

    /// <summary>A single-part message is the payload; multipart messages are dropped.</summary>
    Single,
}
