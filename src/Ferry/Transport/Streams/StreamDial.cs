using System.Net;
using System.Net.Sockets;

namespace Ferry.Transport.Streams;

/// <summary>A <see cref="Socket.ConnectAsync(EndPoint, CancellationToken)"/> whose completion is posted to the loop.</summary>
internal sealed class StreamDial(PostedReadiness readiness, long token, Func<Socket, IConnectionIo> connect) : PostedSource, IDialAttempt
{
    private Socket? _socket;
    private IPEndPoint? _target;
    private volatile Exception? _failure;
    // Set before the completion is posted: a connect that completes before ConnectAsync returns must
    // still be seen (the task field may not be assigned yet when the post is looked at).
    private volatile bool _done;

    public override ReadyFlags Poll() => _done ? ReadyFlags.Writable : ReadyFlags.None;

    public string? Start(IPEndPoint target, BindAddress? local, TcpSocketOptions options, out bool connected, out string? setupProblem)
    {
        connected = false;
        _target = target;
        var socket = _socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        setupProblem = PortableSocketOptions.Apply(socket, options) is { } problem ? "socket options: " + problem : null;
        if (local is not null)
        {
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(new IPEndPoint(local.IsAnyHost ? IPAddress.Any : IPAddress.Parse(local.Host), local.Port));
            }
            catch (SocketException ex)
            {
                return $"cannot bind local address {local}: {StreamErrors.Describe(ex)}";
            }
        }
        readiness.Register(this, ReadyFlags.Writable, token);
        _ = ConnectAsync(socket, target);
        return null;
    }

    private async Task ConnectAsync(Socket socket, IPEndPoint target)
    {
        try
        {
            await socket.ConnectAsync(target).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _failure = ex;
        }
        _done = true;
        Post();
    }

    public string? Outcome()
    {
        if (!_done)
            return $"connect to {_target} has not completed"; // not reached: the event comes after completion
        return _failure is { } ex ? $"connect to {_target} failed: {StreamErrors.Describe(ex)}" : null;
    }

    public IConnectionIo TakeConnection(out IPEndPoint? local)
    {
        var socket = _socket!;
        _socket = null;
        Unregister();
        local = socket.LocalEndPoint as IPEndPoint;
        return connect(socket);
    }

    public void Dispose()
    {
        Unregister();
        _socket?.Dispose();
        _socket = null;
    }
}
