namespace Ferry.Framing;

/// <summary>
/// The header fields a framing may carry beside the payload: the binary header's message type and
/// flags, the mux framing's stream id, the Rogue frame's flags, channel and error (<c>zmtp</c>).
/// Framings without such fields leave them zero on ingress and ignore them on egress.
/// </summary>
public readonly record struct FrameFields(ushort MessageType = 0, ushort Flags = 0, uint StreamId = 0, byte Channel = 0, byte Error = 0)
{
    public static FrameFields None => default;
}
