using System.Net.Sockets;
using Ferry.Transport;
using Ferry.Transport.Streams;

namespace Ferry.Tests.Transport;

/// <summary>
/// The stream transport's listener at stop (review S2): no socket it accepted is left unserved and open, and
/// its accept loop ends even when its queue was full.
/// </summary>
public sealed class StreamListenerTests
{
    private const int QueueLimit = 64;

    private static StreamListener Open(PostedReadiness readiness)
        => StreamListener.Open(readiness, BindAddress.Parse("127.0.0.1:0"), 256, new TcpSocketOptions(), -1,
            _ => throw new InvalidOperationException("these tests take no connection"));

    private static Socket NewClient() => new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>Whether the server side closed the connection (end of stream or reset) within the deadline.</summary>
    private static async Task<bool> ClosedByServerAsync(Socket client)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await client.ReceiveAsync(new byte[1], SocketFlags.None, deadline.Token) == 0;
        }
        catch (SocketException)
        {
            return true; // reset
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_socket_accepted_while_the_listener_is_disposed_is_closed_not_left_open()
    {
        using var readiness = new PostedReadiness();
        var listener = Open(readiness);
        // The stop comes between the accept's completion and the queueing of its socket.
        listener.AfterAcceptForTest = listener.Dispose;
        using var client = NewClient();
        await client.ConnectAsync(listener.LocalEndPoint);
        await listener.AcceptLoop.WaitAsync(TimeSpan.FromSeconds(10));
        // Before the fix the socket sat in the drained queue: an established connection nobody served or closed.
        Assert.True(await ClosedByServerAsync(client), "the accepted socket is closed");
    }

    [Fact]
    public async Task Dispose_ends_an_accept_loop_parked_on_a_full_queue_and_closes_every_client()
    {
        using var readiness = new PostedReadiness();
        var listener = Open(readiness);
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < QueueLimit + 2; i++)
            {
                var client = NewClient();
                clients.Add(client);
                await client.ConnectAsync(listener.LocalEndPoint);
            }
            // The loop took as many as its queue holds and waits for room; the rest wait in the kernel's backlog.
            await Poll.UntilAsync(() => listener.Queued == QueueLimit, "the queue to fill");
            listener.Dispose();
            // Before the fix the loop stayed parked on the full queue for ever.
            await listener.AcceptLoop.WaitAsync(TimeSpan.FromSeconds(10));
            foreach (var client in clients)
                Assert.True(await ClosedByServerAsync(client), "every client is closed");
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }
}
