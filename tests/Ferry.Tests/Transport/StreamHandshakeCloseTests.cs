using System.Net;
using System.Net.Sockets;
using Ferry.Stages;
using Ferry.Transport;
using Ferry.Transport.Streams;

namespace Ferry.Tests.Transport;

/// <summary>
/// On the stream transport a connection's handshake (TLS) runs off the service thread, so the stage may close the
/// connection (its handshake timeout, a stop) while the handshake is finishing. The stream the handshake hands back
/// (an SslStream, with its OpenSSL object) must then be disposed, not left to the finalizer.
/// </summary>
public sealed class StreamHandshakeCloseTests
{
    [Fact]
    public async Task A_handshake_that_finishes_after_the_close_has_its_stream_disposed()
    {
        using var started = await HandshakingConnection.StartAsync();
        var (io, handshake) = (started.Io, started.Handshake);

        io.Dispose();                      // the stage closes the connection meanwhile ...
        handshake.Finish();                // ... and then the handshake succeeds
        await Poll.UntilAsync(() => handshake.Secured.Disposed, "the stream of a handshake that finished after the close to be disposed");
        Assert.False(io.TryCompleteHandshake(out _));
    }

    [Fact]
    public async Task A_handshake_that_finishes_before_the_close_keeps_its_stream_until_the_close()
    {
        using var started = await HandshakingConnection.StartAsync();
        var (io, handshake) = (started.Io, started.Handshake);
        handshake.Finish();
        TlsConnectionInfo? info = null;
        await Poll.UntilAsync(() => io.TryCompleteHandshake(out info), "the handshake to finish");
        Assert.Equal("Test", info!.Protocol);
        Assert.False(handshake.Secured.Disposed);

        io.Dispose();
        await Poll.UntilAsync(() => handshake.Secured.Disposed, "the close to dispose the secured stream");
    }

    /// <summary>A loopback connection on the stream transport whose (held) handshake has started on the thread pool.</summary>
    private sealed class HandshakingConnection : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly Socket _client;
        private readonly PostedReadiness _readiness = new();

        private HandshakingConnection(TcpListener listener, Socket client, Socket server)
        {
            (_listener, _client) = (listener, client);
            Io = new StreamConnectionIo(server, 4096, Handshake);
        }

        public HeldHandshake Handshake { get; } = new();

        public StreamConnectionIo Io { get; }

        public static async Task<HandshakingConnection> StartAsync()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
            var connection = new HandshakingConnection(listener, client, await listener.AcceptSocketAsync());
            connection._readiness.Watch(connection.Io, ReadyFlags.Readable, 1); // starts the handshake on the thread pool
            await connection.Handshake.Started.Task.WaitAsync(Poll.DefaultTimeout);
            return connection;
        }

        public void Dispose()
        {
            _readiness.Dispose();
            _client.Dispose();
            _listener.Dispose();
        }
    }

    /// <summary>A handshake that waits for the test, then hands back a stream that says whether it was disposed.</summary>
    private sealed class HeldHandshake : IStreamHandshake
    {
        private readonly TaskCompletionSource _finish = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TrackedStream Secured { get; } = new();

        public TimeProvider Time => TimeProvider.System;

        public void Finish() => _finish.TrySetResult();

        public async Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            await _finish.Task.ConfigureAwait(false);
            return (Secured, new TlsConnectionInfo("Test", "None", null, null, null));
        }
    }

    private sealed class TrackedStream : MemoryStream
    {
        private volatile bool _disposed;

        public bool Disposed => _disposed;

        protected override void Dispose(bool disposing)
        {
            _disposed = true;
            base.Dispose(disposing);
        }
    }
}
