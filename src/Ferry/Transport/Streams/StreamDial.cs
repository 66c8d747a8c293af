using System.Net;
using System.Net.Sockets;

namespace Ferry.Transport.Streams;

/// <summary>A <see cref="Socket.ConnectAsync(EndPoint, CancellationToken)"/> whose completion is posted to the loop.</summary>
internal sealed class StreamDial(PostedReadiness readiness, long token, Func<Socket, IConnectionIo> connect) : PostedSource, IDialAttempt
{
    private Socket? _socket;
    private Task? _connect;
    private IPEndPoint? _target;

    public override ReadyFlags Poll() => _connect is { IsCompleted: true } ? ReadyFlags.Writable : ReadyFlags.None;

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
        _connect = ConnectAsync(socket, target);
        return null;
    }

    private async Task ConnectAsync(Socket socket, IPEndPoint target)
    {
        try
        {
            await socket.ConnectAsync(target).ConfigureAwait(false);
        }
        finally
        {
            Post();
        }
    }

    public string? Outcome()
    {
        if (_connect is not { IsCompleted: true } task)
            return null;
        if (task.Exception?.InnerException is { } ex)
            return $"connect to {_target} failed: {StreamErrors.Describe(ex)}";
        return task.IsCanceled ? $"connect to {_target} failed: cancelled" : null;
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
        // A connect still running fails on the closed socket; observe it so it is not reported unobserved.
        _connect?.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
    }
}
