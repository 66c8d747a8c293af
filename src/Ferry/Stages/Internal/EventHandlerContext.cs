using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>
/// The synchronization context a stage's event handlers are called under, so that an <c>async void</c> handler
/// (<c>stage.Connected += async (s, e) =&gt; …</c>, the natural way to write one) cannot end the process: such a method
/// captures the context it starts on and posts its unhandled exception there, and without one the runtime throws it
/// on a thread-pool thread, where nothing can catch it. Here it is logged like a handler that throws at once, and the
/// stage goes on. Everything posted runs on the thread pool, as it would with no context: continuations are not
/// brought back to the stage's thread, so a handler that awaits never holds it, and a blocking wait cannot deadlock.
/// </summary>
internal sealed class EventHandlerContext(ILogger logger, string stage) : SynchronizationContext
{
    public override void Post(SendOrPostCallback d, object? state)
        => ThreadPool.UnsafeQueueUserWorkItem(static s => s.Context.Run(s.Callback, s.State), (Context: this, Callback: d, State: state), preferLocal: false);

    public override void Send(SendOrPostCallback d, object? state) => Run(d, state);

    public override SynchronizationContext CreateCopy() => this;

    private void Run(SendOrPostCallback d, object? state)
    {
        try
        {
            d(state);
        }
        catch (Exception ex)
        {
            // The rethrow of an async void handler's exception (or a continuation of it that threw).
            Log.AsyncHandlerFailed(logger, stage, ex);
        }
    }

    /// <summary>Calls <paramref name="handler"/> with this context current, and restores the caller's afterwards.</summary>
    public void Invoke<T>(EventHandler<T> handler, object sender, T e)
    {
        var previous = Current;
        SetSynchronizationContext(this);
        try
        {
            handler(sender, e);
        }
        finally
        {
            SetSynchronizationContext(previous);
        }
    }
}
