using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Ferry.Bus;

/// <summary>A bounded queue subscription. Pooled messages are retained while queued and released when the reader moves past them.</summary>
internal sealed class QueueSubscription<T> : ISubscription<T>
{
    private readonly Channel<T> _channel;
    private readonly bool _retainable;
    private readonly Action _detach;
    private T? _current;
    private bool _holdsCurrent;
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

    private void Hold(T message)
    {
        if (!_retainable)
            return;
        _current = message;
        _holdsCurrent = true;
    }

    private void ReleaseCurrent()
    {
        if (!_holdsCurrent)
            return;
        _holdsCurrent = false;
        var current = _current;
        _current = default;
        ((IRetainable)current!).Release();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _detach();
        _channel.Writer.TryComplete();
        ReleaseCurrent();
        while (_channel.Reader.TryRead(out var left))
            if (_retainable)
                ((IRetainable)left!).Release();
    }
}
