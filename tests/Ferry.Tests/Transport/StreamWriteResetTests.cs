using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Stages;
using Ferry.Transport;
using Ferry.Transport.Streams;

namespace Ferry.Tests.Transport;

/// <summary>
/// A TLS session on the stream transport whose write the peer resets before the session has read a byte: a TLS 1.3
/// server refusing the client's certificate sends its alert and closes, and with the client's bytes unread its close is
/// a reset. The write that learns of the reset must leave the close to the read side, which takes the alert waiting in
/// front of it: closed at once as a reset, the refusal read as a lost connection (a CI flake of
/// <c>TlsRefusedAfterHandshakeReconnectTests</c> under load, when the read's completion came late).
/// </summary>
/// <remarks>The session's stream is scripted: each read and write completes when the test says, in the order it chooses.</remarks>
public sealed class StreamWriteResetTests
{
    private static readonly byte[] Message = Encoding.ASCII.GetBytes("held\n");

    [Fact]
    public async Task A_reset_write_before_the_first_byte_waits_for_the_read_which_closes_with_the_alert()
    {
        using var c = await SecuredConnection.StartAsync();
        await c.FailWriteWithResetAsync();

        // Nothing is said of the write's error: no close, no room to write, nothing to read yet, and sends would block.
        Assert.Equal(ReadyFlags.None, c.Io.Poll() & (ReadyFlags.Closed | ReadyFlags.Writable));
        Assert.Equal(-1, c.Io.Receive(new byte[64], out var error));
        Assert.Equal(0, error);
        Assert.Equal(-1, c.Io.Send(Message, out error));
        Assert.Equal(0, error);

        // The read in flight takes the peer's alert: that is the close, a TLS error with the alert's words.
        c.Stream.CompleteRead(new IOException("Received an unexpected EOF or 0 bytes from the transport stream.",
            new IOException("TLS alert: certificate unknown")));
        await Poll.UntilAsync(() => (c.Io.Poll() & ReadyFlags.Closed) != 0, "the read's failure to close the connection");
        Assert.Equal(-1, c.Io.Receive(new byte[64], out error));
        Assert.Equal(IConnectionIo.HandshakeFailedError, error);
        Assert.Contains("certificate unknown", c.Io.DescribeError(error));
    }

    [Fact]
    public async Task A_reset_write_before_the_first_byte_whose_read_finds_the_end_closes_as_the_reset()
    {
        using var c = await SecuredConnection.StartAsync();
        await c.FailWriteWithResetAsync();

        c.Stream.NextReadAtOnce = 0;
        c.Stream.CompleteRead(0); // the zero-byte read: something waits (the end, as it turns out)
        await Poll.UntilAsync(() => (c.Io.Poll() & ReadyFlags.Readable) != 0, "the read to complete");
        Assert.Equal(-1, c.Io.Receive(new byte[64], out var error));
        Assert.Equal((int)SocketError.ConnectionReset, error);
        Assert.Equal(ResetWords, c.Io.DescribeError(error));
    }

    [Fact]
    public async Task A_reset_write_after_the_peer_s_end_was_taken_closes_at_once()
    {
        // The end taken first (the connection may stay to write what is left, with reads stopped): no read is left to wait
        // for, and a reset that waited would leave the connection open for good.
        using var c = await SecuredConnection.StartAsync();
        c.Stream.NextReadAtOnce = 0;
        c.Stream.CompleteRead(0);
        await Poll.UntilAsync(() => (c.Io.Poll() & ReadyFlags.Readable) != 0, "the end");
        Assert.Equal(0, c.Io.Receive(new byte[64], out _));

        await c.FailWriteWithResetAsync();
        Assert.Equal(ReadyFlags.Closed, c.Io.Poll() & ReadyFlags.Closed);
        Assert.Equal(-1, c.Io.Send(Message, out var error));
        Assert.Equal((int)SocketError.ConnectionReset, error);
    }

    [Fact]
    public async Task After_the_first_byte_a_reset_write_closes_at_once()
    {
        // Later in a session reads may be held back (a full inbox, a paused source): a reset that waited for one could wait long.
        using var c = await SecuredConnection.StartAsync();
        c.Stream.NextReadAtOnce = 3;
        c.Stream.CompleteRead(0);
        await Poll.UntilAsync(() => (c.Io.Poll() & ReadyFlags.Readable) != 0, "the first bytes");
        Assert.Equal(3, c.Io.Receive(new byte[64], out _));

        await c.FailWriteWithResetAsync();
        Assert.Equal(ReadyFlags.Closed, c.Io.Poll() & ReadyFlags.Closed);
        Assert.Equal(-1, c.Io.Receive(new byte[64], out var error));
        Assert.Equal((int)SocketError.ConnectionReset, error);
        Assert.Equal(-1, c.Io.Send(Message, out error));
        Assert.Equal((int)SocketError.ConnectionReset, error);
    }

    private static string ResetWords => new SocketException((int)SocketError.ConnectionReset) is var reset && OperatingSystem.IsLinux()
        ? Ferry.Transport.Interop.Libc.Describe(reset.NativeErrorCode)
        : $"{reset.SocketErrorCode} ({reset.Message})";

    /// <summary>A loopback connection on the stream transport whose handshake has handed over a <see cref="ScriptedStream"/>.</summary>
    private sealed class SecuredConnection : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly Socket _client;
        private readonly PostedReadiness _readiness = new();

        private SecuredConnection(TcpListener listener, Socket client, Socket server)
        {
            (_listener, _client) = (listener, client);
            Io = new StreamConnectionIo(server, 4096, new ScriptedHandshake(Stream));
        }

        public ScriptedStream Stream { get; } = new();

        public StreamConnectionIo Io { get; }

        public static async Task<SecuredConnection> StartAsync()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
            var c = new SecuredConnection(listener, client, await listener.AcceptSocketAsync());
            c._readiness.Watch(c.Io, ReadyFlags.Readable, 1); // runs the handshake on the thread pool
            await Poll.UntilAsync(() => c.Io.TryCompleteHandshake(out _), "the handshake");
            await c.Stream.ReadStarted.WaitAsync(Poll.DefaultTimeout); // the zero-byte read that waits for the peer
            return c;
        }

        /// <summary>Starts a write and has the peer reset it; returns once the connection has taken the failure.</summary>
        public async Task FailWriteWithResetAsync()
        {
            Assert.Equal(Message.Length, Io.Send(Message, out var error));
            Assert.Equal(0, error);
            Stream.FailWrite(new IOException("Unable to write data to the transport connection: Connection reset by peer.",
                new SocketException((int)SocketError.ConnectionReset)));
            await Poll.UntilAsync(() => Io.DescribeError((int)SocketError.ConnectionReset) == ResetWords, "the write's failure to be taken");
        }

        public void Dispose()
        {
            _readiness.Dispose();
            Io.Dispose();
            _client.Dispose();
            _listener.Dispose();
        }
    }

    private sealed class ScriptedHandshake(Stream secured) : IStreamHandshake
    {
        public TimeProvider Time => TimeProvider.System;

        public Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken)
            => Task.FromResult((secured, new TlsConnectionInfo("Test", "None", null, null, null)));
    }

    /// <summary>
    /// A session stream whose reads wait for the test (<see cref="CompleteRead(int)"/>), except one the test lets complete at
    /// once (<see cref="NextReadAtOnce"/>: that many bytes, 0 the end), and whose writes wait for <see cref="FailWrite"/>.
    /// </summary>
    public sealed class ScriptedStream : Stream
    {
        private readonly Lock _lock = new();
        private TaskCompletionSource<int>? _read;
        private TaskCompletionSource? _write;
        private readonly TaskCompletionSource _readStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task ReadStarted => _readStarted.Task;

        public int? NextReadAtOnce { get; set; }

        public void CompleteRead(int n) => TakeRead().TrySetResult(n);

        public void CompleteRead(Exception failure) => TakeRead().TrySetException(failure);

        public void FailWrite(Exception failure)
        {
            TaskCompletionSource write;
            lock (_lock)
                write = _write ?? throw new InvalidOperationException("no write in flight");
            write.TrySetException(failure);
        }

        private TaskCompletionSource<int> TakeRead()
        {
            lock (_lock)
                return _read ?? throw new InvalidOperationException("no read in flight");
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            lock (_lock)
            {
                if (NextReadAtOnce is { } n && buffer.Length > 0)
                {
                    NextReadAtOnce = null;
                    buffer.Span[..n].Fill((byte)'x');
                    return ValueTask.FromResult(n);
                }
                _read = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
                _readStarted.TrySetResult();
                return new ValueTask<int>(_read.Task);
            }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            lock (_lock)
            {
                _write = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return new ValueTask(_write.Task);
            }
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
