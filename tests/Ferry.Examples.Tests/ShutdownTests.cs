using Ferry.Examples;

namespace Ferry.Examples.Tests;

/// <summary>
/// The examples' <c>Shutdown.RunAsync</c>: a cancellation that the program's own stop caused (Ctrl+C while a stage is
/// starting) ends quietly with the normal exit code; before, only <see cref="IOException"/> was caught and such a stop
/// surfaced as an <see cref="OperationCanceledException"/> stack trace. A cancellation the stop did not cause is a fault
/// and still surfaces. No process and no signal: the test asks for the stop as a signal would.
/// </summary>
public sealed class ShutdownTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_body_cancelled_by_the_shutdown_token_ends_quietly_with_exit_code_0()
    {
        var shutdown = new Shutdown();
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new StringWriter();
        Task<int> run = Shutdown.RunAsync("example", async s =>
        {
            waiting.SetResult();
            // As a stage's start that is still waiting when Ctrl+C comes: it throws with the token.
            await Task.Delay(Timeout.Infinite, s.Token);
            return 3; // never reached
        }, shutdown, stderr);
        await waiting.Task.WaitAsync(Bound);
        Assert.False(run.IsCompleted);

        shutdown.Stop();

        Assert.Equal(0, await run.WaitAsync(Bound));
        Assert.Equal("", stderr.ToString());
    }

    [Fact]
    public async Task A_cancellation_from_a_token_linked_to_the_shutdown_token_is_the_stop_too()
    {
        var shutdown = new Shutdown();
        var stderr = new StringWriter();
        Task<int> run = Shutdown.RunAsync("example", async s =>
        {
            // A start that links the program's token with its own: the exception carries the linked token.
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(s.Token);
            s.Stop();
            await Task.Delay(Timeout.Infinite, linked.Token);
            return 3;
        }, shutdown, stderr);

        Assert.Equal(0, await run.WaitAsync(Bound));
        Assert.Equal("", stderr.ToString());
    }

    [Fact]
    public async Task An_OperationCanceledException_the_shutdown_did_not_cause_still_surfaces()
    {
        var shutdown = new Shutdown();
        var stopping = shutdown.Token; // RunAsync disposes the shutdown
        var stderr = new StringWriter();
        using var foreign = new CancellationTokenSource();
        foreign.Cancel();
        Task<int> run = Shutdown.RunAsync("example", async _ =>
        {
            await Task.Yield();
            foreign.Token.ThrowIfCancellationRequested(); // a timeout of the program's own, say: a fault, not a stop
            return 3;
        }, shutdown, stderr);

        var e = await Assert.ThrowsAsync<OperationCanceledException>(() => run.WaitAsync(Bound));
        Assert.Equal(foreign.Token, e.CancellationToken);
        Assert.False(stopping.IsCancellationRequested);
        Assert.Equal("", stderr.ToString());
    }

    [Fact]
    public async Task An_IOException_is_still_one_line_and_exit_code_1()
    {
        var stderr = new StringWriter();
        var code = await Shutdown.RunAsync("example", _ => throw new IOException("port 1 is taken"), new Shutdown(), stderr).WaitAsync(Bound);
        Assert.Equal(1, code);
        Assert.Equal($"example: port 1 is taken{Environment.NewLine}", stderr.ToString());
    }
}
