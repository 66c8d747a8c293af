using System.Net.Sockets;
using System.Threading.Channels;
using Ferry.Bridge.Zmtp;
using Microsoft.Extensions.Logging;

namespace Ferry.Bridge.Internal;

/// <summary>
/// What a bridge end's two directions share, whichever side dials: the bounded send queue that
/// every PUSH connection drains, the bounded receive queue every PULL connection fills, the peer
/// counts behind readiness, and the running connections to wait for at stop.
/// </summary>
internal sealed class FrameBridgeCore
{
    private readonly Channel<Frame> _outbound;
    private readonly Channel<Frame> _inbound;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _connections = [];
    private readonly AsyncGate _pushReady = new();
    private readonly AsyncGate _ready = new();
    private int _pushPeers;
    private int _pullPeers;
    private int _admittedPush;
    private int _admittedPull;

    public FrameBridgeCore(FrameBridgeOptions? options, string category)
    {
        Options = options ?? new FrameBridgeOptions();
        Options.Validate();
        Logger = Options.LoggerFactory.CreateLogger(category);
        _outbound = Channel.CreateBounded<Frame>(new BoundedChannelOptions(Options.SendHighWaterMark)
        {
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
        _inbound = Channel.CreateBounded<Frame>(new BoundedChannelOptions(Options.ReceiveHighWaterMark)
        {
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
    }

    public FrameBridgeOptions Options { get; }

    public ILogger Logger { get; }

    public FrameBridgeCounters Counters { get; } = new();

    public CancellationToken Stopping => _stopping.Token;

    public bool IsStopping => _stopping.IsCancellationRequested;

    public ChannelReader<Frame> Outbound => _outbound.Reader;

    public ChannelWriter<Frame> Inbound => _inbound.Writer;

    public bool IsReady => _ready.IsOpen;

    public int PendingSendCount => _outbound.Reader.Count;

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        if (IsStopping)
            ThrowStopped();
        // ZMQ_IMMEDIATE: nothing is queued while no PUSH peer is connected.
        if (_pushReady.IsOpen && _outbound.Writer.TryWrite(frame))
            return ValueTask.CompletedTask;
        return SendSlowAsync(frame, cancellationToken);
    }

    private async ValueTask SendSlowAsync(Frame frame, CancellationToken cancellationToken)
    {
        using CancellationTokenSource linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        if (Options.SendTimeout != Timeout.InfiniteTimeSpan)
            linked.CancelAfter(Options.SendTimeout);
        try
        {
            while (true)
            {
                await _pushReady.WaitAsync(linked.Token).ConfigureAwait(false);
                if (_outbound.Writer.TryWrite(frame))
                    return;
                if (!await _outbound.Writer.WaitToWriteAsync(linked.Token).ConfigureAwait(false))
                    ThrowStopped();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (_stopping.IsCancellationRequested)
                ThrowStopped();
            throw new TimeoutException($"No peer took the frame within {Options.SendTimeout}.");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowStopped() =>
        throw new ObjectDisposedException("FrameBridge", "The frame bridge was stopped; create a new one to send again.");

    public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken) => _inbound.Reader.ReadAllAsync(cancellationToken);

    public bool TryRead(out Frame frame) => _inbound.Reader.TryRead(out frame);

    public async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        if (IsStopping)
            ThrowStopped();
        using CancellationTokenSource linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        try
        {
            await _ready.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ThrowStopped();
        }
    }

    /// <summary>Admits one more connection on a server port unless the per-port limit is reached.</summary>
    public bool TryAdmit(ZmtpSocketType role)
    {
        lock (_lock)
        {
            ref int admitted = ref role == ZmtpSocketType.Push ? ref _admittedPush : ref _admittedPull;
            if (admitted >= Options.MaxPeersPerPort)
                return false;
            admitted++;
            return true;
        }
    }

    /// <summary>Runs an accepted connection on the thread pool and tracks it until it ends.</summary>
    public void StartConnection(Socket socket, ZmtpSocketType role)
    {
        ZmtpConnection connection;
        try
        {
            connection = new ZmtpConnection(socket, role, this);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            // The peer reset before we could set the socket up: nothing to run, keep accepting.
            socket.Dispose();
            ReleaseAdmission(role);
            BridgeLog.Failed(Logger, role == ZmtpSocketType.Push ? "PUSH" : "PULL", "?", e.Message);
            return;
        }

        Task run = RunAcceptedAsync(connection, role);
        lock (_lock)
            _connections.Add(run);
        // Registered after the add, so the removal always follows it, even for a task already done.
        run.ContinueWith(static (task, state) => ((FrameBridgeCore)state!).Untrack(task), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Untrack(Task task)
    {
        lock (_lock)
            _connections.Remove(task);
    }

    private async Task RunAcceptedAsync(ZmtpConnection connection, ZmtpSocketType role)
    {
        await Task.Yield();
        try
        {
            await connection.RunAsync(_stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            ReleaseAdmission(role);
        }
    }

    private void ReleaseAdmission(ZmtpSocketType role)
    {
        lock (_lock)
        {
            if (role == ZmtpSocketType.Push)
                _admittedPush--;
            else
                _admittedPull--;
        }
    }

    /// <summary>Runs one dialled connection to its end (the client's dial loops own their connections).</summary>
    public Task<bool> RunConnectionAsync(Socket socket, ZmtpSocketType role, CancellationToken cancellationToken) =>
        new ZmtpConnection(socket, role, this).RunAsync(cancellationToken);

    public void OnEstablished(ZmtpSocketType role)
    {
        Counters.AddConnection();
        lock (_lock)
        {
            if (role == ZmtpSocketType.Push && ++_pushPeers == 1)
                _pushReady.Open();
            else if (role == ZmtpSocketType.Pull)
                _pullPeers++;
            UpdateReadyLocked();
        }
    }

    public void OnLost(ZmtpSocketType role)
    {
        lock (_lock)
        {
            if (role == ZmtpSocketType.Push && --_pushPeers == 0)
                _pushReady.Close();
            else if (role == ZmtpSocketType.Pull)
                _pullPeers--;
            UpdateReadyLocked();
        }
    }

    private void UpdateReadyLocked()
    {
        bool ready = _pushPeers > 0 && _pullPeers > 0;
        if (ready == _ready.IsOpen)
            return;
        if (ready)
        {
            _ready.Open();
            BridgeLog.Ready(Logger);
        }
        else
        {
            _ready.Close();
            BridgeLog.NotReady(Logger);
        }
    }

    /// <summary>Stops taking frames and tells every loop to end.</summary>
    public void BeginStop()
    {
        _outbound.Writer.TryComplete();
        _stopping.Cancel();
    }

    /// <summary>Waits for the tracked connections, then ends the receive queue so readers finish.</summary>
    public async Task CompleteStopAsync()
    {
        Task[] running;
        lock (_lock)
            running = [.. _connections];
        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (Exception) when (running.Length > 0)
        {
            // Connections report their own failures; stopping only waits for them.
        }

        _inbound.Writer.TryComplete();
    }
}
