namespace Ferry.Bridge;

/// <summary>Something frames come out of: a bridge end's received frames, or your own producer.</summary>
public interface IFrameSource
{
    /// <summary>The frames in order; ends when the source does. Meant for one reader.</summary>
    IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default);
}

/// <summary>Something frames go into: a bridge end's sending side, or your own consumer.</summary>
public interface IFrameSink
{
    /// <summary>Takes one frame, waiting while the sink is back-pressuring.</summary>
    ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default);
}
