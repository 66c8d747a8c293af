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
    public Task A_send_to_one_connection_that_times_out_on_a_service_thread_resumes_its_caller_elsewhere()
        => ResumesOffTheServiceThreadAsync(id => EgressMessage.To(id, new byte[1000]));

    [Fact]
    public Task A_send_to_any_that_times_out_on_a_service_thread_resumes_its_caller_elsewhere()
        => ResumesOffTheServiceThreadAsync(_ => EgressMessage.ToAny(new byte[1000]));

    private async Task ResumesOffTheServiceThreadAsync(Func<ConnectionId, EgressMessage> message)
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Options(), time: time);
        // Another stage on the same clock moves it past the timeout from its service thread, in a Connected handler.
        await using var mover = new FerryTestServer(new TcpServerStageOptions().On(transport), time: time);
        var advanceOnConnect = 0;
        var serviceThread = -1;
        mover.Stage.Connected += (_, _) =>
        {
            if (Interlocked.Exchange(ref advanceOnConnect, 0) == 1)
            {
                Volatile.Write(ref serviceThread, Environment.CurrentManagedThreadId);
                time.Advance(TimeSpan.FromSeconds(1));
            }
        };
        await h.StartAsync();
        await mover.StartAsync();
        using var slow = await h.ConnectAsync();
        slow.Socket.ReceiveBufferSize = 8 * 1024;
        var id = (await h.WaitForConnectionAsync(slow.LocalEndPoint)).ConnectionId;

        for (var round = 1; ; round++)
        {
            // Fill the slow client's buffer until a send waits (each wait that times out here is moved on by this thread).
            Task<(int Thread, SendOutcome Outcome)> waiting;
            for (var attempt = 0; ; attempt++)
            {
                Assert.True(attempt < 10_000, "no send ever waited");
                waiting = SendAndTellTheThreadAsync(h.Stage, message(id));
                if (!waiting.IsCompleted)
                    break;
                await waiting;
            }
            Volatile.Write(ref advanceOnConnect, 1);
            using var trigger = await mover.ConnectAsync();
            var (resumedOn, outcome) = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
            if (outcome == SendOutcome.Dropped)
            {
                // It timed out, so the clock moved on the mover's service thread completed it.
                Assert.NotEqual(-1, Volatile.Read(ref serviceThread));
                Assert.NotEqual(Volatile.Read(ref serviceThread), resumedOn);
                return;
            }
            // Room appeared before the clock moved (the kernel took more of the buffer): fill again.
            Assert.True(round < 20, $"the waiting send never timed out: {outcome} in each of {round} rounds");
            await Poll.UntilAsync(() => Volatile.Read(ref advanceOnConnect) == 0, "the mover's Connected handler to run");
        }
    }

    /// <summary>Sends and answers the managed id of the thread the caller goes on with afterwards, and what became of the message.</summary>
    private static async Task<(int, SendOutcome)> SendAndTellTheThreadAsync(TcpServerStage stage, EgressMessage message)
    {
        // ConfigureAwait(false): go on wherever the send completes, as library code does (xunit's context would post it).
        var outcome = await stage.SendWithOutcomeAsync(message).ConfigureAwait(false);
        return (Environment.CurrentManagedThreadId, outcome);
    }
}
