using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A send held by the <c>wait</c> policy gives up at <c>egress_wait_timeout</c>, a timer on the stage's clock. That timer
/// fires on whichever thread moves the clock: with <see cref="TimeProvider.System"/> a pool thread, with a fake clock (what
/// a user's tests pass in) whoever advances it, a stage's service thread included (an event handler; the loop's own timer,
/// whose re-arming wakes the clock's due timers). The sender must never continue on a service thread: there its next send
/// would not wait but queue past the limit, and whatever it does stalls every connection of the stage.
/// </summary>
public abstract class WaitTimeoutThreadTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : WaitTimeoutThreadTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : WaitTimeoutThreadTests(StageTransport.Stream);

    private TcpServerStageOptions Options() => new TcpServerStageOptions
    {
        EgressBufferBytes = 32 * 1024,
        EgressOverflow = EgressOverflowPolicy.Wait,
        EgressWaitTimeout = TimeSpan.FromMilliseconds(200),
        Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
    }.On(transport);

    [Fact]
    public Task A_send_to_one_connection_that_times_out_on_the_service_thread_resumes_its_caller_elsewhere()
        => ResumesOffTheServiceThreadAsync((stage, id) => stage.SendAsync(id, new byte[1000]), dropped: 1);

    [Fact]
    public Task A_send_to_any_that_times_out_on_the_service_thread_resumes_its_caller_elsewhere()
        // The retry after the timeout finds the second client with room: taken, not dropped.
        => ResumesOffTheServiceThreadAsync((stage, _) => stage.SendToAnyAsync(new byte[1000]), dropped: 0);

    private async Task ResumesOffTheServiceThreadAsync(Func<TcpServerStage, ConnectionId, ValueTask<bool>> send, int dropped)
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Options(), time: time);
        var advanceOnConnect = 0;
        var serviceThread = -1;
        // The clock is moved past the timeout by the service thread itself, in the Connected handler of a second client.
        h.Stage.Connected += (_, _) =>
        {
            if (Interlocked.Exchange(ref advanceOnConnect, 0) == 1)
            {
                Volatile.Write(ref serviceThread, Environment.CurrentManagedThreadId);
                time.Advance(TimeSpan.FromSeconds(1));
            }
        };
        await h.StartAsync();
        using var slow = await h.ConnectAsync();
        slow.Socket.ReceiveBufferSize = 8 * 1024;
        var id = (await h.WaitForConnectionAsync(slow.LocalEndPoint)).ConnectionId;

        // Fill the slow client's buffer until a send waits (each wait that times out here is moved on by this thread).
        Task<int> waiting;
        for (var attempt = 0; ; attempt++)
        {
            Assert.True(attempt < 10_000, "no send ever waited");
            waiting = SendAndTellTheThreadAsync(send, h.Stage, id);
            if (!waiting.IsCompleted)
                break;
            await waiting;
        }
        Volatile.Write(ref advanceOnConnect, 1);
        using var second = await h.ConnectAsync();
        var resumedOn = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.NotEqual(-1, Volatile.Read(ref serviceThread));
        Assert.NotEqual(Volatile.Read(ref serviceThread), resumedOn);
        Assert.Equal(dropped, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    /// <summary>Sends and answers the managed id of the thread the caller goes on with afterwards.</summary>
    private static async Task<int> SendAndTellTheThreadAsync(Func<TcpServerStage, ConnectionId, ValueTask<bool>> send, TcpServerStage stage, ConnectionId id)
    {
        // ConfigureAwait(false): go on wherever the send completes, as library code does (xunit's context would post it).
        await send(stage, id).ConfigureAwait(false);
        return Environment.CurrentManagedThreadId;
    }
}
