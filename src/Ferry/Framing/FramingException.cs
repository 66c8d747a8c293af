namespace Ferry.Framing;

/// <summary>A framing could not be built from its settings, or a message could not be encoded.</summary>
public sealed class FramingException : Exception
{
    /// <summary>An error whose <paramref name="message"/> says what is wrong and what is allowed.</summary>
    public FramingException(string message)
        : base(message)
    {
    }

    /// <summary>An error caused by <paramref name="innerException"/> (a framing factory's own exception, kept for its stack trace).</summary>
    public FramingException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
