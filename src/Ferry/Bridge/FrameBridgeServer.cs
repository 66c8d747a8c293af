using System.Net;
using System.Net.Sockets;
using Ferry.Bridge.Internal;
using Ferry.Bridge.Zmtp;

namespace Ferry.Bridge;

/// <summary>
/// The listening end of the bridge, Rogue's <c>TcpServer</c>: a PULL socket bound on the base port
/// (frames from clients) and a PUSH socket bound on port + 1 (frames to clients). Binds and starts
/// listening in the constructor, as Rogue's does; several clients may connect, incoming frames are
/// fair-queued and outgoing frames go to whichever connected client is ready, as ZeroMQ PUSH does.
/// </summary>
public sealed class FrameBridgeServer : IFrameBridge
{
    private readonly FrameBridgeCore _core;
    private readonly Socket _pullListener;
    private readonly Socket _pushListener;
    private readonly Task _acceptingPull;
    private readonly Task _acceptingPush;
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    public FrameBridgeServer(string address, int port, FrameBridgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        BridgeAddress.ValidatePort(port);
        IPAddress ip = BridgeAddress.ResolveForBind(address);
        _core = new FrameBridgeCore(options, $"Ferry.Bridge.{address}.Server.{port}");
        Address = address;
        Port = port;

        _pullListener = Bind(ip, port);
        try
        {
            _pushListener = Bind(ip, port + 1);
        }
        catch
        {
            _pullListener.Dispose();
            throw;
        }

        BridgeLog.Listening(_core.Logger, "PULL", _pullListener.LocalEndPoint!);
        BridgeLog.Listening(_core.Logger, "PUSH", _pushListener.LocalEndPoint!);
        _acceptingPull = AcceptLoopAsync(_pullListener, ZmtpSocketType.Pull);
        _acceptingPush = AcceptLoopAsync(_pushListener, ZmtpSocketType.Push);
    }

    public string Address { get; }

    /// <summary>The base port: PULL listens here, PUSH on <c>Port + 1</c>.</summary>
    public int Port { get; }

    public bool IsReady => _core.IsReady;

    public FrameBridgeCounters Counters => _core.Counters;

    public int PendingSendCount => _core.PendingSendCount;

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => _core.SendAsync(frame, cancellationToken);

    public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default) => _core.ReadAllAsync(cancellationToken);

    public bool TryRead(out Frame frame) => _core.TryRead(out frame);

    public Task WaitReadyAsync(CancellationToken cancellationToken = default) => _core.WaitReadyAsync(cancellationToken);

    private static Socket Bind(IPAddress ip, int port)
    {
        var listener = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // No ReuseAddress: on Unix .NET maps it to SO_REUSEPORT too, which would let a second server
            // share the port. .NET already sets SO_REUSEADDR on Unix, so a restarted server binds again
            // while old connections sit in TIME_WAIT, as libzmq's does.
            listener.Bind(new IPEndPoint(ip, port));
            listener.Listen(128);
            return listener;
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new InvalidOperationException($"Failed to bind the bridge to port {port} at address {ip}, another process may be using this port: {e.Message}", e);
        }
    }

    private async Task AcceptLoopAsync(Socket listener, ZmtpSocketType role)
    {
        await Task.Yield();
        string roleName = role == ZmtpSocketType.Push ? "PUSH" : "PULL";
        CancellationToken stopping = _core.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (stopping.IsCancellationRequested)
                    return;
                // Out of descriptors and the like: back off briefly rather than spin.
                BridgeLog.AcceptFailed(_core.Logger, roleName, e.Message);
                await Task.Delay(_core.Options.ReconnectDelay, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            if (!_core.TryAdmit(role))
            {
                BridgeLog.PeerRefused(_core.Logger, roleName, accepted.RemoteEndPoint?.ToString() ?? "?", _core.Options.MaxPeersPerPort);
                accepted.Dispose();
                continue;
            }

            _core.StartConnection(accepted, role);
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
        _pullListener.Dispose();
        _pushListener.Dispose();
        await Task.WhenAll(_acceptingPull, _acceptingPush).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _core.CompleteStopAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
