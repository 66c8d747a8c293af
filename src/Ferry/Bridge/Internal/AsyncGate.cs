namespace Ferry.Bridge.Internal;

/// <summary>A condition that can be awaited while it is false: opens and closes as peers come and go.</summary>
internal sealed class AsyncGate
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _isOpen;

    public bool IsOpen => _isOpen;

    public void Open()
    {
        lock (_lock)
        {
            if (_isOpen)
                return;
            _isOpen = true;
            _opened.TrySetResult();
        }
    }

    public void Close()
    {
        lock (_lock)
        {
            if (!_isOpen)
                return;
            _isOpen = false;
            _opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public Task WaitAsync(CancellationToken cancellationToken)
    {
        Task opened;
        lock (_lock)
        {
            if (_isOpen)
                return Task.CompletedTask;
            opened = _opened.Task;
        }

        return opened.WaitAsync(cancellationToken);
    }
}
