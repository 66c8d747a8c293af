using Ferry.Connections;

namespace Ferry.Stages.Internal;

internal abstract partial class StageCore
{
    public event EventHandler<ListeningEvent>? Listening;
    public event EventHandler<ConnectedEvent>? Connected;
    public event EventHandler<DisconnectedEvent>? Disconnected;
    public event EventHandler<StageErrorEvent>? Error;
    public event EventHandler<ClosedEvent>? Closed;
    public event EventHandler<SocketStats>? StatsPublished;

    protected void RaiseListening(ListeningEvent e) => RaiseAndPublish(Listening, e);

    protected void RaiseError(StageErrorKind kind, string message, ConnectionId connection = default, bool skipped = false)
    {
        Log.StageError(Logger, Name, kind, message);
        RaiseAndPublish(Error, new StageErrorEvent(Name, DateTimeOffset.UtcNow, kind, message, connection, skipped));
    }

    private void RaiseEvent<T>(EventHandler<T>? handler, T e)
    {
        if (handler is null)
            return;
        try
        {
            handler(Owner, e);
        }
        catch (Exception ex)
        {
            // A faulty handler must not take the stage down; it is reported and the stage goes on.
            Log.HandlerFailed(Logger, Name, typeof(T).Name, ex);
        }
    }

    private protected void RaiseAndPublish<T>(EventHandler<T>? handler, T e) where T : StageEvent
    {
        RaiseEvent(handler, e);
        if (_eventsTopic.SubscriberCount == 0)
            return;
        try
        {
            var publishing = _eventsTopic.PublishAsync(e, _stopForced.Token);
            if (!publishing.IsCompletedSuccessfully)
                publishing.AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopForced.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.HandlerFailed(Logger, Name, typeof(T).Name, ex);
        }
    }
}
