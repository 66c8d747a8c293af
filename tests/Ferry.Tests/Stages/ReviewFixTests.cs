using System.Collections.Concurrent;
using System.Reflection;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Stages;

/// <summary>Faults a review of the stage core found; each test fails on the code before its fix.</summary>
public abstract class ReviewFixTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ReviewFixTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ReviewFixTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Cancelling_the_stop_token_after_the_stage_is_disposed_does_nothing()
    {
        var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }.On(Transport));
        await stage.StartAsync();
        using var cts = new CancellationTokenSource();
        await stage.StopAsync(cts.Token);
        await stage.DisposeAsync();
        var cancel = Record.Exception(cts.Cancel);
        Assert.Null(cancel);
    }

    [Fact]
    public async Task Cancelling_the_stop_token_while_stopping_cuts_the_grace_period_short()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { StopGracePeriod = TimeSpan.FromHours(1), EgressBufferBytes = 64 << 20 }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForEventAsync<ConnectedEvent>()).ConnectionId;
        // A client that never reads: queued egress can never drain within the grace period.
        for (var i = 0; i < 64; i++)
            await h.Stage.SendAsync(id, new byte[1 << 20]);
        using var cts = new CancellationTokenSource();
        var stopping = h.Stage.StopAsync(cts.Token);
        Assert.False(stopping.IsCompleted);
        await cts.CancelAsync();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Log_event_ids_are_unique_across_the_library()
    {
        var ids = typeof(TcpServerStage).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .GroupBy(x => x.Attribute!.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Method.DeclaringType!.Name + "." + x.Method.Name))}")
            .ToList();
        Assert.Empty(ids);
    }
}

/// <summary>
/// Review fixes of the epoll transport alone: they inject faults through the <see cref="Reactor"/>'s test
/// hooks (the stream transport's readiness has no descriptor to fail).
/// </summary>
public sealed class ReviewFixEpollTests
{
    [Fact]
    public async Task A_dial_whose_socket_cannot_be_watched_fails_at_once_instead_of_hanging()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var failures = new ConcurrentQueue<ConnectFailedEvent>();
        await using var stage = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = listener.LocalEndpoint.ToString()!,
            ConnectTimeout = TimeSpan.FromHours(1),
            ReconnectAttempts = 1,
        }.On(StageTransport.Epoll));
        stage.ConnectFailed += (_, e) => failures.Enqueue(e);
        ((Reactor)stage.Core.Readiness).FailNextWatchForTest = 9; // EBADF
        stage.Start();
        await Poll.UntilAsync(() => !failures.IsEmpty, "the attempt to fail", TimeSpan.FromSeconds(10));
        Assert.Contains("could not watch", failures.Single().Reason);
    }
}
