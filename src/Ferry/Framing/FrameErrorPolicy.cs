namespace Ferry.Framing;

/// <summary>What a stage does when a client sends bytes its framing cannot decode.</summary>
public enum FrameErrorPolicy
{
    /// <summary>Close the connection with reason <c>protocol_error</c> (the default).</summary>
    Close,

    /// <summary>Discard up to the next frame boundary, where the framing has one, and go on.</summary>
    Skip,
}
