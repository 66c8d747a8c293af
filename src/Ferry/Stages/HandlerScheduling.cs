namespace Ferry.Stages;

/// <summary>Where a stage's connection handlers run (<see cref="ConnectionHandlerOptions.Scheduling"/>; docs/threading.md).</summary>
public enum HandlerScheduling
{
    /// <summary>
    /// On the thread pool (the default): a handler may block, compute or await anything, and handlers of
    /// different connections run in parallel on every core. Each read's messages cross from the stage's
    /// service thread to a pool thread.
    /// </summary>
    ThreadPool,

    /// <summary>
    /// On the stage's service thread: when a read brings messages for a handler that is waiting for them,
    /// the service thread runs the handler until its next wait, and what it sends goes out in that
    /// round's one <c>send</c>. No hand-off per read, so short handlers (echo, routing, a codec step)
    /// serve the most messages per core. While a handler runs no other connection of the stage is served:
    /// a handler whose runs hold the thread longer than <see cref="ConnectionHandlerOptions.InlineBudget"/>
    /// twice within a second is moved to the thread pool for good, with a warning. Awaiting is safe (the
    /// service thread goes on at the first await that does not complete at once, and a send under the
    /// <c>wait</c> overflow policy awaits room as it would on the pool); blocking is not.
    /// </summary>
    Inline,
}
