using System.Net;
using System.Net.Sockets;
using Ferry.Bridge.Internal;
using Ferry.Bridge.Zmtp;

namespace Ferry.Bridge;

/// <summary>
/// The dialling end of the bridge, Rogue's <c>TcpClient</c>: a PUSH connection to the server's base
/// port and a PULL connection to port + 1. It may start before the server; each direction dials and
/// re-dials on its own with a capped, doubling back-off, so a restarted server is found again.
/// </summary>
public sealed class FrameBridgeClient : IFrameBridge
{
    private readonly FrameBridgeCore _core;
    private readonly Task _pushDialing;
    private readonly Task _pullDialing;
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    public FrameBridgeClient(string address, int port, FrameBridgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        BridgeAddress.ValidatePort(port);
        _core = new FrameBridgeCore(options, $"Ferry.Bridge.{address}.Client.{port}");
        Address = address;
        Port = port;
        _pushDialing = DialLoopAsync(port, ZmtpSocketType.Push);
        _pullDialing = DialLoopAsync(port + 1, ZmtpSocketType.Pull);
    }

    public string Address { get; }

    /// <summary>The server's base port: PUSH dials it, PULL dials <c>Port + 1</c>.</summary>
    public int Port { get; }

    public bool IsReady => _core.IsReady;

    public FrameBridgeCounters Counters => _core.Counters;

    public int PendingSendCount => _core.PendingSendCount;

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => _core.SendAsync(frame, cancellationToken);

    public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default) => _core.ReadAllAsync(cancellationToken);

    public bool TryRead(out Frame frame) => _core.TryRead(out frame);

    public Task WaitReadyAsync(CancellationToken cancellationToken = default) => _core.WaitReadyAsync(cancellationToken);

    private async Task DialLoopAsync(int port, ZmtpSocketType role)
    {
        await Task.Yield();
        string roleName = role == ZmtpSocketType.Push ? "PUSH" : "PULL";
        CancellationToken stopping = _core.Stopping;
        TimeSpan delay = _core.Options.ReconnectDelay;
        while (!stopping.IsCancellationRequested)
        {
            Socket? socket = null;
            bool established = false;
            try
            {
                IPAddress[] addresses = await BridgeAddress.ResolveForConnectAsync(Address, stopping).ConfigureAwait(false);
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(addresses, port, stopping).ConfigureAwait(false);
                established = await _core.RunConnectionAsync(socket, role, stopping).ConfigureAwait(false);
                socket = null; // the connection closed it
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                socket?.Dispose();
                return;
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                socket?.Dispose();
                BridgeLog.ConnectFailed(_core.Logger, roleName, Address, port, e.Message, delay);
            }

            // libzmq's reconnect interval: retry soon after a working connection ends, back off while the server is away.
            delay = established ? _core.Options.ReconnectDelay : delay;
            await Task.Delay(delay, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!established)
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _core.Options.MaxReconnectDelay.Ticks));
        }
    }

    public Task StopAsync()
    {
        lock (_stopLock)
            return _stopped ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        _core.BeginStop();
        await Task.WhenAll(_pushDialing, _pullDialing).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _core.CompleteStopAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
