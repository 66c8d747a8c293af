using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Ferry.Framing;

namespace Ferry.Testing;

/// <summary>
/// A loopback TCP (or TLS) client for tests: sends and receives whole messages in any framing, raw bytes,
/// or bytes in fragments, and every wait is bounded by a deadline that fails with what was awaited and
/// what arrived.
/// </summary>
/// <remarks>
/// One test drives a client: it is not safe for concurrent sends or concurrent receives. Message and
/// byte receives share one buffer, so a test may read a message and then raw bytes, in order. With a
/// session framing (<c>zmtp</c>) the client plays its side of the handshake: it sends its greeting on
/// connect and <see cref="SendMessageAsync(ReadOnlyMemory{byte}, FrameFields, CancellationToken)"/>
/// first waits for the handshake to finish.
/// </remarks>
public sealed class FramedTestClient : IDisposable, IAsyncDisposable
{
    private readonly IFrameDecoder _decoder;
    private readonly IFramingSession? _session;
    private readonly ArrayBufferWriter<byte> _sessionOutput = new();
    private readonly InboundBytes _inbound = new();
    private readonly Queue<TestMessage> _decoded = new();
    private bool _ended;

    private FramedTestClient(Socket socket, Stream stream, SslStream? tls, FramedTestClientOptions options)
    {
        Socket = socket;
        Stream = stream;
        Tls = tls;
        Framing = options.Framing ?? FramingSpec.Parse("raw");
        Timeout = options.Timeout;
        if (Framing is ISessionFraming sessions)
            _decoder = _session = sessions.CreateSession(_sessionOutput);
        else
            _decoder = Framing.CreateDecoder();
    }

    /// <summary>The client's socket (for socket options, or to misbehave on purpose).</summary>
    public Socket Socket { get; }

    /// <summary>The stream messages go through: the socket's, or the TLS stream over it.</summary>
    public Stream Stream { get; }

    /// <summary>The TLS stream (negotiated protocol, cipher suite, the server's certificate); null for plain TCP.</summary>
    public SslStream? Tls { get; }

    /// <summary>The client's framing.</summary>
    public IFraming Framing { get; }

    /// <summary>How long each send and receive may take unless the call says otherwise.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The client's own address (the server sees it as the peer).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)Socket.LocalEndPoint!;

    /// <summary>The server's address.</summary>
    public IPEndPoint RemoteEndPoint => (IPEndPoint)Socket.RemoteEndPoint!;

    /// <summary>Connects (and runs the TLS handshake when asked for); throws when either fails.</summary>
    /// <param name="server">The server's address.</param>
    /// <param name="options">Framing, TLS and timeout; raw, plain and <see cref="Poll.DefaultTimeout"/> when null.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <exception cref="SocketException">The connection was refused or failed.</exception>
    /// <exception cref="AuthenticationException">The TLS handshake failed.</exception>
    /// <exception cref="TimeoutException">The connect or the handshake took longer than the options' timeout.</exception>
    public static async Task<FramedTestClient> ConnectAsync(IPEndPoint server, FramedTestClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        options ??= new FramedTestClientOptions();
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? tls = null;
        try
        {
            var what = options.Tls is null ? $"a connection to {server}" : $"a TLS connection to {server} ({options.Tls.ServerName})";
            await Deadline.RunAsync(async token =>
            {
                await socket.ConnectAsync(server, token).ConfigureAwait(false);
                if (!options.Preface.IsEmpty)
                    await socket.SendAsync(options.Preface, SocketFlags.None, token).ConfigureAwait(false);
                if (options.Tls is { } settings)
                {
                    tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
                    await tls.AuthenticateAsClientAsync(TlsTrust.ClientOptions(settings), token).ConfigureAwait(false);
                }
                return true;
            }, what, options.Timeout, () => "", cancellationToken).ConfigureAwait(false);
            var client = new FramedTestClient(socket, tls ?? (Stream)new NetworkStream(socket, ownsSocket: false), tls, options);
            await client.StartSessionAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            tls?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends bytes as they are (no framing).</summary>
    /// <param name="bytes">What to send.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
        => Deadline.RunAsync(async token =>
        {
            await WriteAsync(bytes, token).ConfigureAwait(false);
            return true;
        }, $"{bytes.Length} bytes to be sent", Timeout, () => "", cancellationToken);

    /// <summary>Sends bytes as they are (no framing); takes collection expressions: <c>SendAsync([1, 2, 3])</c>.</summary>
    /// <param name="bytes">What to send.</param>
    public Task SendAsync(byte[] bytes) => SendAsync(bytes.AsMemory());

    /// <summary>Sends text as UTF-8 bytes, as they are (no framing).</summary>
    /// <param name="text">What to send.</param>
    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Sends bytes in pieces of <paramref name="fragmentBytes"/>, one write each, optionally with a pause
    /// between them, to test a server's reassembly of messages split across reads.
    /// </summary>
    /// <param name="bytes">What to send (framed already, e.g. by <see cref="Encode"/>, or raw).</param>
    /// <param name="fragmentBytes">The size of each piece (the last may be shorter); at least 1.</param>
    /// <param name="pause">Waited between pieces so that each arrives in a read of its own; none by default.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public async Task SendFragmentedAsync(ReadOnlyMemory<byte> bytes, int fragmentBytes, TimeSpan pause = default, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fragmentBytes, 1);
        for (var offset = 0; offset < bytes.Length; offset += fragmentBytes)
        {
            if (offset > 0 && pause > TimeSpan.Zero)
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
            await SendAsync(bytes.Slice(offset, Math.Min(fragmentBytes, bytes.Length - offset)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One message in the client's framing, as it goes on the wire.</summary>
    /// <param name="payload">The message.</param>
    /// <param name="fields">Header fields for framings that carry them.</param>
    /// <exception cref="FramingException">The framing cannot carry this payload (too long for its length field or its maximum).</exception>
    public byte[] Encode(ReadOnlySpan<byte> payload, FrameFields fields = default)
    {
        var output = new ArrayBufferWriter<byte>(Framing.Encoder.GetEncodedLength(payload.Length));
        Framing.Encoder.Encode(payload, fields, output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Sends one message in the client's framing (after a session framing's handshake).</summary>
    /// <param name="payload">The message.</param>
    /// <param name="fields">Header fields for framings that carry them.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public async Task SendMessageAsync(ReadOnlyMemory<byte> payload, FrameFields fields = default, CancellationToken cancellationToken = default)
    {
        if (_session is { IsEstablished: false })
            await Deadline.RunAsync(async token =>
            {
                while (!_session.IsEstablished && await FillAsync(token).ConfigureAwait(false))
                    await DecodeBufferedAsync(token).ConfigureAwait(false);
                return _session.IsEstablished ? true : throw new EndOfStreamException($"the server closed the connection during the {Framing.Spec} handshake");
            }, $"the {Framing.Spec} handshake", Timeout, () => $"{_inbound.Count} bytes", cancellationToken).ConfigureAwait(false);
        await SendAsync(Encode(payload.Span, fields), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends text as one UTF-8 message in the client's framing.</summary>
    /// <param name="text">The message.</param>
    public Task SendMessageAsync(string text) => SendMessageAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Receives the next message, decoded with the client's framing (with <c>raw</c>, whatever one read returned).</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">No whole message in time; the message says how many bytes of one had arrived.</exception>
    /// <exception cref="EndOfStreamException">The server closed the connection first.</exception>
    /// <exception cref="InvalidDataException">The bytes are not valid in the framing.</exception>
    public Task<TestMessage> ReceiveMessageAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => Deadline.RunAsync(async token =>
        {
            while (true)
            {
                await DecodeBufferedAsync(token).ConfigureAwait(false);
                if (_decoded.TryDequeue(out var message))
                    return message;
                if (!await FillAsync(token).ConfigureAwait(false))
                    return DecodeEnd() ?? throw new EndOfStreamException($"the server closed the connection ({_inbound.Count} bytes of an unfinished {Framing.Spec} message left)");
            }
        }, $"a {Framing.Spec} message", timeout ?? Timeout, () => $"{_inbound.Count} bytes of an unfinished message", cancellationToken);

    /// <summary>Receives the next <paramref name="count"/> messages.</summary>
    /// <param name="count">How many.</param>
    /// <param name="timeout">How long to wait for all of them; <see cref="Timeout"/> when null.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<IReadOnlyList<TestMessage>> ReceiveMessagesAsync(int count, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var messages = new List<TestMessage>(count);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout ?? Timeout);
        try
        {
            while (messages.Count < count)
                messages.Add(await ReceiveMessageAsync(System.Threading.Timeout.InfiniteTimeSpan, deadline.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(TimeoutMessage.Format($"{count} {Framing.Spec} messages", timeout ?? Timeout, $"{messages.Count}"));
        }
        return messages;
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes as they arrive (no framing).</summary>
    /// <param name="count">How many bytes.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">Fewer bytes arrived in time; the message says how many.</exception>
    /// <exception cref="EndOfStreamException">The server closed the connection first.</exception>
    public Task<byte[]> ReceiveExactlyAsync(int count, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var buffer = new byte[count];
        var read = 0;
        return Deadline.RunAsync(async token =>
        {
            while (read < count)
            {
                if (_inbound.Count == 0 && !await FillAsync(token).ConfigureAwait(false))
                    throw new EndOfStreamException($"connection closed after {read} of {count} bytes");
                read += _inbound.MoveTo(buffer.AsSpan(read));
            }
            return buffer;
        }, $"{count} bytes", timeout ?? Timeout, () => $"{read}", cancellationToken);
    }

    /// <summary>Waits until the server ends the connection (FIN, reset or a TLS alert), discarding what arrives meanwhile.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    /// <returns>True when the connection ended, false when it was still open at the deadline.</returns>
    public async Task<bool> WaitClosedAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? Timeout);
        var buffer = new byte[4096];
        try
        {
            while (await ReadAsync(buffer, deadline.Token).ConfigureAwait(false) > 0)
            {
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException)
        {
            return true;
        }
    }

    /// <summary>Closes with a reset (RST) instead of FIN.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    /// <summary>Closes the connection (FIN).</summary>
    public void Dispose()
    {
        Stream.Dispose();
        Socket.Dispose();
    }

    /// <summary>Closes the connection (FIN; with TLS, after its close notification).</summary>
    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync().ConfigureAwait(false);
        Socket.Dispose();
    }

    private async Task StartSessionAsync(CancellationToken cancellationToken)
    {
        if (_session is null)
            return;
        _session.Start();
        await FlushSessionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads once into the buffer; false at the end of the stream.</summary>
    private async Task<bool> FillAsync(CancellationToken token)
    {
        if (_ended)
            return false;
        var n = await ReadAsync(_inbound.GetSpace(), token).ConfigureAwait(false);
        _inbound.Append(n);
        _ended = n == 0;
        return !_ended;
    }

    /// <summary>Decodes every whole message in the buffer into the queue, then sends what a session framing answered (before anything else is sent).</summary>
    private async Task DecodeBufferedAsync(CancellationToken token)
    {
        DecodeBuffered();
        await FlushSessionAsync(token).ConfigureAwait(false);
    }

    private void DecodeBuffered()
    {
        if (Framing.IsRaw)
        {
            if (_inbound.Count > 0)
                _decoded.Enqueue(new TestMessage(_inbound.TakeAll(), default));
            return;
        }
        while (_inbound.Count > 0)
        {
            var input = _inbound.Sequence;
            var before = input.Length;
            var status = _decoder.Decode(ref input, out var payload, out var fields, out var error);
            var message = status == DecodeStatus.Frame ? new TestMessage(payload.ToArray(), fields) : null;
            _inbound.Consume(before - input.Length);
            switch (status)
            {
                case DecodeStatus.Frame:
                    _decoded.Enqueue(message!);
                    break;
                case DecodeStatus.Error:
                    throw new InvalidDataException($"the server sent bytes that are not valid {Framing.Spec}: {error}");
                case DecodeStatus.NeedMoreData:
                    return;
            }
        }
    }

    private TestMessage? DecodeEnd()
    {
        if (Framing.IsRaw)
            return null;
        var input = _inbound.Sequence;
        var before = input.Length;
        var status = _decoder.DecodeEnd(ref input, out var payload, out var fields, out var error);
        var message = status == DecodeStatus.Frame ? new TestMessage(payload.ToArray(), fields) : null;
        _inbound.Consume(before - input.Length);
        return status == DecodeStatus.Error
            ? throw new EndOfStreamException($"the server closed the connection in the middle of a {Framing.Spec} message: {error}")
            : message;
    }

    private async Task FlushSessionAsync(CancellationToken token)
    {
        if (_sessionOutput.WrittenCount == 0)
            return;
        await WriteAsync(_sessionOutput.WrittenMemory, token).ConfigureAwait(false);
        _sessionOutput.Clear();
    }

    /// <summary>
    /// Plain connections use the socket itself, so that a failure is the <see cref="SocketException"/> a
    /// test expects (a stream would wrap it in an <see cref="IOException"/>); TLS goes through its stream.
    /// </summary>
    private async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken token)
    {
        if (Tls is not null)
        {
            await Tls.WriteAsync(bytes, token).ConfigureAwait(false);
            await Tls.FlushAsync(token).ConfigureAwait(false);
            return;
        }
        while (!bytes.IsEmpty)
            bytes = bytes[await Socket.SendAsync(bytes, SocketFlags.None, token).ConfigureAwait(false)..];
    }

    private ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken token)
        => Tls is not null ? Tls.ReadAsync(buffer, token) : Socket.ReceiveAsync(buffer, SocketFlags.None, token);
}
