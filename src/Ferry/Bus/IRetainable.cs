namespace Ferry.Bus;

/// <summary>
/// A pooled message that the bus keeps alive while a queue subscription holds it. Applications never
/// call these: the in-process bus retains on enqueue and releases when the reader moves on. A bus
/// implementation that holds messages past <see cref="ITopic{T}.PublishAsync"/> (a queue, a batch)
/// must do the same, or the message is recycled under it.
/// </summary>
/// <remarks>Every <see cref="Retain"/> must be matched by exactly one <see cref="Release"/>; both may be
/// called from any thread.</remarks>
public interface IRetainable
{
    /// <summary>Keeps the message valid (its buffers out of the pool) until the matching <see cref="Release"/>.</summary>
    void Retain();

    /// <summary>Gives up one hold; the message may be recycled once every hold, the publisher's included, is released.</summary>
    /// <exception cref="InvalidOperationException">Released more often than retained.</exception>
    void Release();
}
