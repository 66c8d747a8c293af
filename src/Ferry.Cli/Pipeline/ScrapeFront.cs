using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
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
/// 16 KiB. The exporter's listener takes only paths under <see cref="BackendPath"/>, a random one of this process, which the
/// front puts before each request's path: its loopback port answers every local user, but what it answers them without
/// that path is a 404, not the metrics (the listener cannot be told to take connections from this process only).
/// <para>A scrape always gets through clients that connect and send nothing, or trickle: every connection is accepted
/// at once; a request head must be whole within <see cref="HeadTimeout"/>, and the whole exchange done within
/// <see cref="ExchangeTimeout"/>; and with <see cref="MaxExchanges"/> connections open, a new one closes the oldest
/// that is still waiting for its client (its head unfinished, or a refused client not yet gone), or else the oldest.
/// Prometheus sends its request head as soon as it connects, so its exchange is past waiting a moment later.</para>
/// </remarks>
internal sealed class ScrapeFront : IDisposable
{
    private const int MaxHeadBytes = 16 * 1024;

    /// <summary>The one path served.</summary>
    internal const string MetricsPath = "/metrics";

    /// <summary>The largest answer of the exporter passed on (about 100 bytes a series: far more than any pipeline has).</summary>
    private const int MaxAnswerBytes = 64 * 1024 * 1024;

    /// <summary>Connections served at once; the next one closes the oldest (see the remarks).</summary>
    internal const int MaxExchanges = 16;

    /// <summary>How long a client has to send its whole request head (and a refused client to leave).</summary>
    internal static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long the answer may take once the head is in: the exporter's collection, then the client reading it.</summary>
    internal static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(30);

    private readonly Socket _listener;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    /// <summary>The open exchanges, oldest first.</summary>
    private readonly LinkedList<Exchange> _exchanges = new();

    private IPEndPoint _backend = FreeBackend();

    /// <summary>
    /// The path under which the exporter's listener answers (<c>/</c> and 32 random hex digits, no trailing slash): only
    /// this process knows it, so a local user who finds the listener's port gets no metrics from it directly.
    /// </summary>
    public string BackendPath { get; } = "/" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Binds <paramref name="bind"/> and starts answering.</summary>
    /// <param name="bind">The scrape endpoint's address, IPv4 or IPv6 (an IPv6 one takes IPv6 only, as written).</param>
    /// <param name="time">The clock of the head and exchange deadlines.</param>
    /// <exception cref="SocketException">The address cannot be bound (taken, not this host's, no IPv6 here).</exception>
    public ScrapeFront(IPEndPoint bind, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _listener = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (bind.AddressFamily == AddressFamily.InterNetworkV6)
                _listener.DualMode = false; // [::] is every IPv6 interface, as 0.0.0.0 is every IPv4 one: exactly what was written
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
                client = await _listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // that client is gone; the listener is fine
            }
            var exchange = new Exchange(client, _time);
            Exchange? evicted = null;
            lock (_lock)
            {
                if (stop.IsCancellationRequested)
                {
                    exchange.Close();
                    return;
                }
                if (_exchanges.Count >= MaxExchanges)
                {
                    evicted = OldestWaiting() ?? _exchanges.First!.Value;
                    _exchanges.Remove(evicted.Node);
                }
                _exchanges.AddLast(exchange.Node);
            }
            evicted?.Close();
            _ = ExchangeAsync(exchange);
        }
    }

    private Exchange? OldestWaiting()
    {
        for (var node = _exchanges.First; node is not null; node = node.Next)
        {
            if (node.Value.Waiting)
                return node.Value;
        }
        return null;
    }

    private async Task ExchangeAsync(Exchange exchange)
    {
        var client = exchange.Client;
        var deadline = exchange.Deadline.Token;
        try
        {
            var request = await ReadHeadAsync(client, deadline).ConfigureAwait(false);
            if (request.Refusal is { } refusal)
            {
                await client.SendAsync(Encoding.ASCII.GetBytes(refusal), SocketFlags.None, deadline).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Send);
                // What the client sent past the refused head is read and dropped until it closes (within the head deadline,
                // which still runs): closing with unread bytes would reset the connection, and the reset could overtake the answer.
                var rest = new byte[4096];
                while (await client.ReceiveAsync(rest, SocketFlags.None, deadline).ConfigureAwait(false) > 0)
                {
                }
                return;
            }
            exchange.Answering(ExchangeTimeout);
            using var backend = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await backend.ConnectAsync(Backend, deadline).ConfigureAwait(false);
            await backend.SendAsync(Encoding.ASCII.GetBytes(request.Forward!), SocketFlags.None, deadline).ConfigureAwait(false);
            // The whole answer is read, then rewritten (ScrapeAnswer): its body changes length, so it cannot be copied as it comes.
            using var answer = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await backend.ReceiveAsync(buffer, SocketFlags.None, deadline).ConfigureAwait(false)) > 0)
            {
                if (answer.Length + n > MaxAnswerBytes)
                    throw new IOException($"the exporter's answer is larger than {MaxAnswerBytes} bytes");
                answer.Write(buffer, 0, n);
            }
            await client.SendAsync(ScrapeAnswer.Rewrite(answer.ToArray(), request.HeadOnly), SocketFlags.None, deadline).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // A client that left or was closed for a newer one, a deadline passed, or the endpoint stopping: that exchange
            // ends, nothing else does.
        }
        finally
        {
            lock (_lock)
            {
                if (exchange.Node.List is not null)
                    _exchanges.Remove(exchange.Node);
            }
            exchange.Close();
        }
    }

    /// <summary>The request to pass on (a HEAD is passed on as a GET: the answer's length is known once its body is rewritten), or the answer that refuses it.</summary>
    private readonly record struct Head(string? Forward, string? Refusal, bool HeadOnly = false);

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
        // The metrics are at /metrics (a query is ignored, as Prometheus's own exporters do); every other path is not found,
        // rather than answering the metrics to whatever a crawler or a typo asks for.
        if (parts[1].Split('?')[0] != MetricsPath)
            return new Head(null, Answer("404 Not Found"));
        // Accept chooses the exposition format (OpenMetrics or Prometheus text); nothing else matters to the exporter.
        var accept = lines.Skip(1).FirstOrDefault(l => l.StartsWith("Accept:", StringComparison.OrdinalIgnoreCase));
        var forward = new StringBuilder()
            .Append("GET ").Append(BackendPath).Append(parts[1]).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(Backend).Append("\r\n");
        if (accept is not null)
            forward.Append(accept).Append("\r\n");
        forward.Append("Connection: close\r\n\r\n");
        return new Head(forward.ToString(), null, parts[0] == "HEAD");
    }

    private static string Answer(string status, string headers = "")
        => $"HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n";

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        Exchange[] open;
        lock (_lock)
        {
            open = [.. _exchanges];
            _exchanges.Clear();
        }
        foreach (var exchange in open)
            exchange.Close();
    }

    /// <summary>One client connection: its socket, its deadline, and whether it is still waiting for the client.</summary>
    private sealed class Exchange
    {
        private int _closed;
        private bool _waiting = true;

        public Exchange(Socket client, TimeProvider time)
        {
            Client = client;
            Node = new LinkedListNode<Exchange>(this);
            Deadline = new CancellationTokenSource(HeadTimeout, time);
        }

        public Socket Client { get; }

        public LinkedListNode<Exchange> Node { get; }

        /// <summary>Cancelled when the head or the answer takes too long, or the exchange is closed for another.</summary>
        public CancellationTokenSource Deadline { get; }

        /// <summary>True until the request head is in and being answered: a client that sent nothing yet, or trickles.</summary>
        public bool Waiting => Volatile.Read(ref _waiting);

        /// <summary>The head is in: the answer has <paramref name="timeout"/> from now.</summary>
        public void Answering(TimeSpan timeout)
        {
            Volatile.Write(ref _waiting, false);
            Deadline.CancelAfter(timeout);
        }

        /// <summary>Ends the exchange wherever it is (idempotent; its task then finishes by itself).</summary>
        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
                return;
            try
            {
                Deadline.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            Client.Dispose();
        }
    }
}
