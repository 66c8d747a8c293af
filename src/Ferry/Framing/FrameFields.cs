namespace Ferry.Framing;

/// <summary>
/// The header fields a framing may carry beside the payload: the binary header's message type and
/// flags, the mux framing's stream id, the Rogue frame's flags, channel and error (<c>zmtp</c>), and
/// <see cref="Custom"/>, free for framings that define fields of their own (see <see cref="FrameField"/>).
/// Which fields a framing uses is in <see cref="IFraming.HeaderFields"/>; the others stay zero on
/// ingress and are ignored on egress.
/// </summary>
/// <param name="MessageType">The <c>header</c> framing's message type.</param>
/// <param name="Flags">The <c>header</c> framing's flags, or a Rogue frame's flags.</param>
/// <param name="StreamId">The <c>mux</c> framing's stream id.</param>
/// <param name="Channel">A Rogue frame's channel.</param>
/// <param name="Error">A Rogue frame's error byte.</param>
/// <param name="Custom">Storage for fields a framing defines itself with <see cref="FrameField.Custom"/>.</param>
public readonly record struct FrameFields(ushort MessageType = 0, ushort Flags = 0, uint StreamId = 0, byte Channel = 0, byte Error = 0, ulong Custom = 0)
{
    /// <summary>No header fields (all zero).</summary>
    public static FrameFields None => default;
}
