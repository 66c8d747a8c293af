namespace Ferry.Framing;

/// <summary>A framing could not be built from its settings, or a message could not be encoded.</summary>
public sealed class FramingException(string message) : Exception(message);
