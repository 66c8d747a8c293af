namespace Ferry.Framing;

/// <summary>Where a <see cref="DelimiterFraming"/>'s delimiter stands relative to the message it marks.</summary>
public enum DelimiterPosition
{
    /// <summary>After each message, like a line's <c>\n</c>.</summary>
    Suffix,

    /// <summary>Before each message, like an STX byte; a message ends where the next delimiter begins.</summary>
    Prefix,
}
