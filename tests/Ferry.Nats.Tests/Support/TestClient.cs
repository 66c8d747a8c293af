using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Nats.Tests.Support;

/// <summary>A plain TCP client on loopback: sends bytes, collects what comes back.</summary>
public sealed class TestClient : IDisposable
{
    private readonly Socket _socket;
    private readonly MemoryStream _received = new();
    private readonly Task _reader;
    private volatile bool _closed;

    private TestClient(Socket socket)
    {
        _socket = socket;
        _reader = Task.Run(ReadAsync);
    }

    public int LocalPort => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    public bool IsClosedByPeer => _closed;

    public static async Task<TestClient> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return new TestClient(socket);
    }

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes);

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public byte[] Received
    {
        get
        {
            lock (_received)
                return _received.ToArray();
        }
    }

    public string Text => Encoding.UTF8.GetString(Received);

    public Task WaitForTextAsync(Func<string, bool> condition, TimeSpan? timeout = null)
        => Eventually.TrueAsync(() => condition(Text), timeout ?? TimeSpan.FromSeconds(10), () => $"client {LocalPort} has received '{Text}'");

    public Task WaitClosedAsync() => Eventually.TrueAsync(() => _closed, TimeSpan.FromSeconds(10), () => $"client {LocalPort} still open");

    private async Task ReadAsync()
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(buffer);
                if (n == 0)
                    break;
                lock (_received)
                    _received.Write(buffer, 0, n);
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _closed = true;
    }

    public void Dispose()
    {
        _socket.Dispose();
        _reader.Wait(TimeSpan.FromSeconds(5));
    }
}
