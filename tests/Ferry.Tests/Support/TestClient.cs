using System.Net;
using System.Net.Sockets;

namespace Ferry.Tests.Support;

/// <summary>A plain loopback TCP client with bounded waits.</summary>
public sealed class TestClient : IDisposable
{
    private TestClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)Socket.LocalEndPoint!;

    public static async Task<TestClient> ConnectAsync(IPEndPoint server)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(server, cts.Token);
        return new TestClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(System.Text.Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] data)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Socket.SendAsync(data, SocketFlags.None, cts.Token);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes or throws on timeout / end of stream.</summary>
    public async Task<byte[]> ReceiveExactlyAsync(int count, TimeSpan? timeout = null)
    {
        var buffer = new byte[count];
        var read = 0;
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (read < count)
        {
            var n = await Socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cts.Token);
            if (n == 0)
                throw new EndOfStreamException($"connection closed after {read} of {count} bytes");
            read += n;
        }
        return buffer;
    }

    /// <summary>Waits until the server closes the connection: true on FIN or RST, false on timeout.</summary>
    public async Task<bool> WaitClosedAsync(TimeSpan? timeout = null)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                var n = await Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                    return true;
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Closes with RST instead of FIN.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    public void Dispose() => Socket.Dispose();
}
