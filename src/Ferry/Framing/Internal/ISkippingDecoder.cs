namespace Ferry.Framing.Internal;

/// <summary>
/// A built-in decoder that can be inside a frame while the caller holds none of its bytes: under
/// <c>on_error=skip</c> it drops the rest of a bad frame as it arrives, so the stage sees nothing buffered.
/// The stage asks it so that frame_timeout also bounds a frame being skipped: a peer must not be able to
/// trickle the body of an oversize frame forever.
/// </summary>
internal interface ISkippingDecoder
{
    /// <summary>Whether the rest of a bad frame is still being dropped.</summary>
    bool IsSkipping { get; }
}
