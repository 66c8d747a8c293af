using System.Net;
using System.Net.Sockets;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport.Streams;

namespace Ferry.Tests.Transport;

/// <summary>
/// The stream transport's socket stream. A zero-byte receive that the runtime completes while the socket
/// has nothing to read (a readiness edge whose bytes were already taken) is made here deterministically:
/// the zero-byte read completes on bytes that are then taken from the socket directly.
/// </summary>
public sealed class WaitThenReadStreamTests : IAsyncLifetime
{
    private Socket _client = null!;
    private Socket _server = null!;

    public async Task InitializeAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await _client.ConnectAsync(listener.LocalEndPoint!);
        _server = await listener.AcceptAsync();
    }

    public Task DisposeAsync()
    {
        _client.Dispose();
        _server.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A zero-byte read completed on bytes that are gone by the time the buffered read comes.</summary>
    private async Task<WaitThenReadStream> WakeUpWithoutBytesAsync(bool report)
    {
        var stream = new WaitThenReadStream(_server) { ReportSpuriousWakeUps = report };
        await _client.SendAsync("ab"u8.ToArray());
        await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var taken = new byte[2];
        await Poll.UntilAsync(() => _server.Available == 2, "both bytes in the socket");
        Assert.Equal(2, _server.Receive(taken));
        return stream;
    }

    [Fact]
    public async Task A_read_after_a_wake_up_without_bytes_reports_it_instead_of_waiting_with_the_buffer()
    {
        var stream = await WakeUpWithoutBytesAsync(report: true);

        var read = stream.ReadAsync(new byte[32 * 1024]);

        Assert.True(read.IsCompleted);
        await Assert.ThrowsAsync<NothingToReadException>(async () => await read);
        // Nothing was taken or broken: the next wait and read see the next bytes.
        await _client.SendAsync("c"u8.ToArray());
        await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var buffer = new byte[8];
        Assert.Equal(1, await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal((byte)'c', buffer[0]);
    }

    [Fact]
    public async Task Without_reporting_the_read_waits_for_the_next_bytes()
    {
        var stream = await WakeUpWithoutBytesAsync(report: false);
        var buffer = new byte[8];

        var read = stream.ReadAsync(buffer);

        Assert.False(read.IsCompleted);
        await _client.SendAsync("d"u8.ToArray());
        Assert.Equal(1, await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal((byte)'d', buffer[0]);
    }

    [Fact]
    public async Task Only_the_first_read_after_a_wake_up_reports_a_missing_byte()
    {
        // A read that continues after bytes came (a TLS record arriving in parts) waits, as it must.
        var stream = new WaitThenReadStream(_server) { ReportSpuriousWakeUps = true };
        await _client.SendAsync("e"u8.ToArray());
        await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var buffer = new byte[8];
        Assert.Equal(1, await stream.ReadAsync(buffer));

        var next = stream.ReadAsync(buffer);

        Assert.False(next.IsCompleted);
        await _client.SendAsync("f"u8.ToArray());
        Assert.Equal(1, await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task TryReadNow_takes_what_is_there_and_never_waits()
    {
        var stream = new WaitThenReadStream(_server);
        var buffer = new byte[8];

        Assert.False(stream.TryReadNow(buffer, out var none));
        Assert.Equal(0, none);

        await _client.SendAsync("gh"u8.ToArray());
        await Poll.UntilAsync(() => _server.Available == 2, "both bytes in the socket");
        Assert.True(stream.TryReadNow(buffer, out var two));
        Assert.Equal(2, two);

        _client.Shutdown(SocketShutdown.Send);
        await Poll.UntilAsync(() => stream.TryReadNow(buffer, out var end) && end == 0, "the end of the stream");
    }

    [Fact]
    public async Task TryReadNow_reports_a_reset_as_an_IOException()
    {
        var stream = new WaitThenReadStream(_server);
        _client.LingerState = new LingerOption(true, 0);
        _client.Close();

        IOException? failure = null;
        await Poll.UntilAsync(() =>
        {
            try
            {
                stream.TryReadNow(new byte[8], out _);
                return false;
            }
            catch (IOException ex)
            {
                failure = ex;
                return true;
            }
        }, "the reset");
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(failure!.InnerException).SocketErrorCode);
    }

    // ---- the reader's gate: a close_notify never runs while the TLS stream's read decrypts (StopReading) ----

    /// <summary>The socket stream as it is once a TLS session is up.</summary>
    private WaitThenReadStream GuardedStream()
    {
        var stream = new WaitThenReadStream(_server);
        stream.GuardReader();
        return stream;
    }

    [Fact]
    public async Task Unguarded_a_stop_is_done_at_once_and_reading_goes_on()
    {
        var stream = new WaitThenReadStream(_server);
        Assert.True(stream.BeginRead());

        Assert.True(stream.StopReading().IsCompleted);
        await _client.SendAsync("a"u8.ToArray());
        var buffer = new byte[8];
        Assert.Equal(1, await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_stop_while_the_reader_holds_bytes_waits_until_it_comes_back_which_then_finds_the_end()
    {
        var stream = GuardedStream();
        await _client.SendAsync("ab"u8.ToArray());
        await Poll.UntilAsync(() => _server.Available == 2, "both bytes in the socket");
        Assert.True(stream.BeginRead());
        var buffer = new byte[1];
        Assert.Equal(1, await stream.ReadAsync(buffer)); // handed over: the reader decrypts it now

        var stopped = stream.StopReading();

        Assert.False(stopped.IsCompleted);
        Assert.False(stream.BeginRead());
        // The reader's next read (the rest of its record) finds the end, takes nothing, and lets the stop go on.
        Assert.Equal(0, await stream.ReadAsync(buffer));
        await stopped.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _server.Available);
        Assert.False(stream.Ended);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // a TLS stream may decrypt bytes it buffered earlier without reading the socket at all
    public async Task A_stop_while_a_read_is_begun_goes_on_when_that_read_ends(bool bytesHanded)
    {
        var stream = GuardedStream();
        Assert.True(stream.BeginRead());
        if (bytesHanded)
        {
            await _client.SendAsync("a"u8.ToArray());
            await Poll.UntilAsync(() => _server.Available == 1, "the byte in the socket");
            Assert.Equal(1, await stream.ReadAsync(new byte[8]));
        }
        var stopped = stream.StopReading();
        Assert.False(stopped.IsCompleted);

        stream.EndRead();

        await stopped.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_stop_while_the_reader_waits_for_bytes_is_done_at_once_and_the_bytes_that_come_stay_in_the_socket()
    {
        var stream = GuardedStream();
        Assert.True(stream.BeginRead());
        var wait = stream.ReadAsync(Memory<byte>.Empty);
        Assert.False(wait.IsCompleted);

        Assert.True(stream.StopReading().IsCompleted);

        await _client.SendAsync("xyz"u8.ToArray());
        await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await stream.ReadAsync(new byte[8]));
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty));
        Assert.Equal(3, _server.Available);
    }

    [Fact]
    public async Task A_tls_session_stopped_while_its_read_waits_ends_that_read_undecrypted_and_then_sends_close_notify()
    {
        var stream = new WaitThenReadStream(_server);
        using var ssl = new System.Net.Security.SslStream(stream);
        using var client = new System.Net.Security.SslStream(new NetworkStream(_client), false, (_, _, _, _) => true);
        await Task.WhenAll(
            ssl.AuthenticateAsServerAsync(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server }),
            client.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "localhost" }))
            .WaitAsync(TimeSpan.FromSeconds(10));
        stream.GuardReader();
        Assert.True(stream.BeginRead());
        var read = ssl.ReadAsync(Memory<byte>.Empty); // as the connection's wait for data
        Assert.False(read.IsCompleted);

        await stream.StopReading().WaitAsync(TimeSpan.FromSeconds(10));
        await client.WriteAsync("late"u8.ToArray());

        // The record is not taken (nor decrypted): the read finds the end.
        Assert.Equal(0, await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        stream.EndRead();
        Assert.True(_server.Available > 0);
        await ssl.ShutdownAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await client.ReadAsync(new byte[8]).AsTask().WaitAsync(TimeSpan.FromSeconds(10))); // its close_notify
    }
}
