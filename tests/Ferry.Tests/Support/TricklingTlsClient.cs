using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Ferry.Tests.Support;

/// <summary>
/// A TLS client that, once its handshake is done, seals messages into records without sending them, so a
/// test sends their ciphertext by hand: a few bytes of a record, and then nothing (a slowloris under TLS).
/// </summary>
public sealed class TricklingTlsClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly HoldingStream _held;
    private readonly SslStream _ssl;

    private TricklingTlsClient(Socket socket, HoldingStream held, SslStream ssl)
    {
        _socket = socket;
        _held = held;
        _ssl = ssl;
    }

    /// <summary>Connects and completes a TLS handshake with <paramref name="server"/> (any certificate is taken: a test server's).</summary>
    public static async Task<TricklingTlsClient> ConnectAsync(IPEndPoint server)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server);
        var held = new HoldingStream(new NetworkStream(socket, ownsSocket: false));
        var ssl = new SslStream(held, leaveInnerStreamOpen: true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }).WaitAsync(TimeSpan.FromSeconds(10));
        held.Holding = true;
        return new TricklingTlsClient(socket, held, ssl);
    }

    /// <summary>The ciphertext of <paramref name="message"/> (its records), not sent.</summary>
    public async Task<byte[]> SealAsync(ReadOnlyMemory<byte> message)
    {
        await _ssl.WriteAsync(message);
        await _ssl.FlushAsync();
        return _held.Take();
    }

    /// <summary>Sends ciphertext (or anything) as it is.</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes) => await _socket.SendAsync(bytes);

    public async ValueTask DisposeAsync()
    {
        await _ssl.DisposeAsync();
        _socket.Dispose();
    }

    /// <summary>Passes the handshake through; once <see cref="Holding"/>, keeps what is written instead of sending it.</summary>
    private sealed class HoldingStream(NetworkStream inner) : Stream
    {
        private readonly MemoryStream _kept = new();

        public bool Holding { get; set; }

        public byte[] Take()
        {
            var bytes = _kept.ToArray();
            _kept.SetLength(0);
            return bytes;
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Holding)
                _kept.Write(buffer);
            else
                inner.Write(buffer);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!Holding)
                return inner.WriteAsync(buffer, cancellationToken);
            _kept.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
