using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Ferry.Bus;

/// <summary>A bounded queue subscription. Pooled messages are retained while queued and released when the reader moves past them.</summary>
/// <remarks>
/// The message the reader was last given is the reader's: only the reader's own calls release it (its next
/// read, or the end of its <c>await foreach</c> once disposed). <see cref="Dispose"/> may come from another
/// thread while the reader still reads that message's spans, so it releases only what is queued, never the
/// current message: the reader's next call finds the subscription completed and releases it then. A message
/// whose reader never calls again is left to the garbage collector (its storage is not pooled again).
/// </remarks>
internal sealed class QueueSubscription<T> : ISubscription<T>
{
    private readonly Channel<T> _channel;
    private readonly bool _retainable;
    private readonly Action _detach;
    /// <summary>The message the reader holds (retainable messages only); reader's side.</summary>
    private IRetainable? _current;
    private int _disposed;

    public QueueSubscription(int capacity, bool retainable, Action detach)
    {
        _channel = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
        _retainable = retainable;
        _detach = detach;
    }

    public int Count => _channel.Reader.Count;

    internal bool TryEnqueue(T message)
    {
        if (_retainable)
            ((IRetainable)message!).Retain();
        if (_channel.Writer.TryWrite(message))
            return true;
        if (_retainable)
            ((IRetainable)message!).Release();
        // A disposed subscription takes nothing and holds nobody up.
        return Volatile.Read(ref _disposed) != 0;
    }

    internal async ValueTask EnqueueAsync(T message, CancellationToken cancellationToken)
    {
        if (_retainable)
            ((IRetainable)message!).Retain();
        try
        {
            await _channel.Writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            if (_retainable)
                ((IRetainable)message!).Release();
        }
        catch
        {
            if (_retainable)
                ((IRetainable)message!).Release();
            throw;
        }
    }

    public bool TryRead(out T message)
    {
        ReleaseCurrent();
        if (_channel.Reader.TryRead(out message!))
        {
            Hold(message);
            return true;
        }
        return false;
    }

    public ValueTask<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        ReleaseCurrent();
        if (_channel.Reader.TryRead(out var message))
        {
            Hold(message);
            return new ValueTask<T>(message);
        }
        return ReadSlowAsync(cancellationToken);
    }

    private async ValueTask<T> ReadSlowAsync(CancellationToken cancellationToken)
    {
        var message = await _channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        Hold(message);
        return message;
    }

    public async IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        try
        {
            while (true)
            {
                T message;
                try
                {
                    message = await ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ChannelClosedException)
                {
                    yield break;
                }
                yield return message;
            }
        }
        finally
        {
            // The loop ends on the reader's side: once the subscription is disposed nothing will read again, so the
            // message it held goes back now. (A loop left early on a live subscription keeps it valid until the next read.)
            if (Volatile.Read(ref _disposed) != 0)
                ReleaseCurrent();
        }
    }

    private void Hold(T message)
    {
        if (_retainable)
            _current = (IRetainable)message!;
    }

    /// <summary>Releases the message the reader held. Reader's side only: never from <see cref="Dispose"/>.</summary>
    private void ReleaseCurrent()
    {
        var current = _current;
        if (current is null)
            return;
        _current = null;
        current.Release();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _detach();
        _channel.Writer.TryComplete();
        // Only what is queued: the message the reader holds stays valid until the reader's next call (which finds
        // the channel completed and releases it) or the end of its loop, whichever thread disposes.
        while (_channel.Reader.TryRead(out var left))
            if (_retainable)
                ((IRetainable)left!).Release();
    }
}
