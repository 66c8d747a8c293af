using System.Net;
using System.Net.Sockets;
using Ferry.Testing;
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
}
