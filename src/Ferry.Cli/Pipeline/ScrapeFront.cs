using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The scrape endpoint's socket, bound to exactly the configured address, answering whatever Host a scrape names.
/// </summary>
/// <remarks>
/// The Prometheus exporter serves through .NET's managed HTTP listener, which answers a request only when its Host
/// header is one of its prefixes' hosts; the one prefix that takes any Host (<c>*</c>) binds every interface. So the
/// exporter's listener serves on a loopback port of its own (<see cref="Backend"/>), and this front passes each
/// request to it with the Host that listener knows and copies the answer back unchanged: one request per connection
/// (<c>Connection: close</c>, which Prometheus handles), <c>GET</c> and <c>HEAD</c> only, a request head of at most
/// 16 KiB, a deadline per exchange and a few exchanges at once (the rest wait in the backlog).
/// </remarks>
internal sealed class ScrapeFront : IDisposable
{
    private const int MaxHeadBytes = 16 * 1024;
    private const int MaxExchanges = 4;
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(30);

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxExchanges);

    private IPEndPoint _backend = FreeBackend();

    /// <summary>Binds <paramref name="bind"/> and starts answering.</summary>
    /// <exception cref="SocketException">The address cannot be bound (taken, not this host's).</exception>
    public ScrapeFront(IPEndPoint bind)
    {
        _listener = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(bind);
            _listener.Listen(64);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        _ = AcceptAsync();
    }

    /// <summary>Where the exporter's own listener answers: a loopback port that was free when chosen.</summary>
    public IPEndPoint Backend => Volatile.Read(ref _backend);

    /// <summary>Chooses another loopback port for the exporter's listener (the last one was taken meanwhile).</summary>
    public IPEndPoint MoveBackend()
    {
        Volatile.Write(ref _backend, FreeBackend());
        return _backend;
    }

    /// <summary>A loopback port free now (the exporter's listener takes no port 0).</summary>
    private static IPEndPoint FreeBackend()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)probe.LocalEndPoint!;
    }

    private async Task AcceptAsync()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                await _slots.WaitAsync(stop).ConfigureAwait(false);
                client = await _listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                _slots.Release();
                continue; // that client is gone; the listener is fine
            }
            _ = ExchangeAsync(client);
        }
    }

    private async Task ExchangeAsync(Socket client)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(ExchangeTimeout);
        try
        {
            using (client)
            {
                var request = await ReadHeadAsync(client, deadline.Token).ConfigureAwait(false);
                if (request.Refusal is { } refusal)
                {
                    await client.SendAsync(Encoding.ASCII.GetBytes(refusal), SocketFlags.None, deadline.Token).ConfigureAwait(false);
                    client.Shutdown(SocketShutdown.Send);
                    // What the client sent past the refused head is read and dropped until it closes (within the deadline):
                    // closing with unread bytes would reset the connection, and the reset could overtake the answer.
                    var rest = new byte[4096];
                    while (await client.ReceiveAsync(rest, SocketFlags.None, deadline.Token).ConfigureAwait(false) > 0)
                    {
                    }
                    return;
                }
                using var backend = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await backend.ConnectAsync(Backend, deadline.Token).ConfigureAwait(false);
                await backend.SendAsync(Encoding.ASCII.GetBytes(request.Forward!), SocketFlags.None, deadline.Token).ConfigureAwait(false);
                var buffer = new byte[16 * 1024];
                int n;
                while ((n = await backend.ReceiveAsync(buffer, SocketFlags.None, deadline.Token).ConfigureAwait(false)) > 0)
                    await client.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, deadline.Token).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // A client that left, a deadline passed, or the endpoint stopping: that exchange ends, nothing else does.
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>The request to pass on, or the answer that refuses it.</summary>
    private readonly record struct Head(string? Forward, string? Refusal);

    private async Task<Head> ReadHeadAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxHeadBytes];
        var length = 0;
        int end;
        while ((end = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (length == buffer.Length)
                return new Head(null, Answer("431 Request Header Fields Too Large"));
            var n = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new IOException("the client closed before its request was complete");
            length += n;
        }
        var lines = Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || !parts[1].StartsWith('/') || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            return new Head(null, Answer("400 Bad Request"));
        if (parts[0] is not ("GET" or "HEAD"))
            return new Head(null, Answer("405 Method Not Allowed", "Allow: GET, HEAD\r\n"));
        // Accept chooses the exposition format (OpenMetrics or Prometheus text); nothing else matters to the exporter.
        var accept = lines.Skip(1).FirstOrDefault(l => l.StartsWith("Accept:", StringComparison.OrdinalIgnoreCase));
        var forward = new StringBuilder()
            .Append(parts[0]).Append(' ').Append(parts[1]).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(Backend).Append("\r\n");
        if (accept is not null)
            forward.Append(accept).Append("\r\n");
        forward.Append("Connection: close\r\n\r\n");
        return new Head(forward.ToString(), null);
    }

    private static string Answer(string status, string headers = "")
        => $"HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n";

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }
}
