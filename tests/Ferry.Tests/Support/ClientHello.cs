using System.Net.Security;
using System.Security.Authentication;

namespace Ferry.Tests.Support;

/// <summary>
/// A real TLS ClientHello, as .NET's own client writes it, for tests that play a hostile client over a raw
/// socket (send a hello, then reset; trickle it). Captured by starting an <see cref="SslStream"/> handshake
/// over a stream that keeps the first write and then ends.
/// </summary>
public static class ClientHello
{
    /// <summary>The first flight of a TLS client asking for <paramref name="serverName"/>: one whole handshake record (or more).</summary>
    public static async Task<byte[]> CaptureAsync(string serverName = "localhost", SslProtocols protocols = SslProtocols.Tls12 | SslProtocols.Tls13)
    {
        var capture = new FirstWrite();
        await using var ssl = new SslStream(capture, leaveInnerStreamOpen: true);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                EnabledSslProtocols = protocols,
                RemoteCertificateValidationCallback = (_, _, _, _) => false,
            }).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException)
        {
            // The stream ended after the hello: the handshake cannot go on, and was not meant to.
        }
        return capture.Written ?? throw new InvalidOperationException("the TLS client wrote no hello");
    }

    /// <summary>Keeps what the TLS client writes first; reads end at once.</summary>
    private sealed class FirstWrite : Stream
    {
        public byte[]? Written { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => 0;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(0);

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer) => Written ??= buffer.ToArray();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
