using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ferry.Framing;

namespace Ferry.Examples.Tests.Support;

/// <summary>
/// A loopback test client that speaks any Ferry framing with its public encoder and decoder, with a
/// deadline on every wait.
/// </summary>
public sealed class FramedClient : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly Socket _socket;
    private readonly IFraming _framing;
    private readonly IFrameDecoder _decoder;
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private FramedClient(Socket socket, IFraming framing)
    {
        _socket = socket;
        _framing = framing;
        _decoder = framing.CreateDecoder();
    }

    public static async Task<FramedClient> ConnectAsync(IPEndPoint server, IFraming framing)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(server, cts.Token);
        return new FramedClient(socket, framing);
    }

    public Task SendAsync(string text, FrameFields fields = default) => SendAsync(System.Text.Encoding.UTF8.GetBytes(text), fields);

    public async Task SendAsync(ReadOnlyMemory<byte> payload, FrameFields fields = default)
    {
        var output = new ArrayBufferWriter<byte>();
        _framing.Encoder.Encode(payload.Span, fields, output);
        await SendRawAsync(output.WrittenMemory);
    }

    /// <summary>Sends bytes as they are, framing and all (for malformed input).</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _socket.SendAsync(bytes, SocketFlags.None, cts.Token);
    }

    /// <summary>The next message; throws on timeout, end of stream or a framing error.</summary>
    public async Task<(byte[] Payload, FrameFields Fields)> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        while (true)
        {
            var input = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
            var total = input.Length;
            var status = _decoder.Decode(ref input, out var payload, out var fields, out var error);
            var consumed = (int)(total - input.Length);
            if (status == DecodeStatus.Frame)
            {
                var message = payload.ToArray();
                _start += consumed;
                return (message, fields);
            }
            if (status is DecodeStatus.Error or DecodeStatus.Skipped)
                throw new InvalidDataException($"the server sent bytes the {_framing.Spec} framing rejects: {error.Kind} {error.Detail}");
            _start += consumed;
            await FillAsync(cts.Token);
        }
    }

    public async Task<string> ReceiveTextAsync(TimeSpan? timeout = null)
        => System.Text.Encoding.UTF8.GetString((await ReceiveAsync(timeout)).Payload);

    /// <summary>Waits until the server closes the connection: true on FIN or RST, false on timeout.</summary>
    public async Task<bool> WaitClosedAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var scratch = new byte[4096];
        try
        {
            while (await _socket.ReceiveAsync(scratch, SocketFlags.None, cts.Token) > 0)
            {
            }
            return true;
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

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
            Array.Resize(ref _buffer, _buffer.Length * 2);
        int read;
        try
        {
            read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no whole message within the deadline ({_end} bytes buffered)");
        }
        if (read == 0)
            throw new EndOfStreamException($"the server closed the connection ({_end} bytes of an unfinished message buffered)");
        _end += read;
    }

    public void Dispose() => _socket.Dispose();
}
