using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A stage starts once (review F7): what Start, StartAsync and ConnectAsync do after a stop or a dispose,
/// what pending waits for listening or connecting get when the stage ends first, and what a client stage's
/// SendAsync answers when no connection will come or the message was not kept (review F4).
/// </summary>
public abstract class StageLifecycleTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : StageLifecycleTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : StageLifecycleTests(StageTransport.Stream);

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private TcpServerStage NewServer(string name, string bind = "127.0.0.1:0", TimeProvider? time = null)
        => new(new TcpServerStageOptions { Name = name, Bind = bind }.On(transport), timeProvider: time);

    private TcpClientStage NewClient(string name, int port, TimeProvider? time = null, int egressBufferBytes = 1024 * 1024, int reconnectAttempts = 0)
        => new(new TcpClientStageOptions
        {
            Name = name,
            Connect = $"127.0.0.1:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(50),
            EgressBufferBytes = egressBufferBytes,
            ReconnectAttempts = reconnectAttempts,
        }.On(transport), timeProvider: time);

    [Fact]
    public async Task A_disposed_server_stage_refuses_to_start_and_opens_nothing()
    {
        var stage = NewServer("gone");
        var listened = 0;
        stage.Listening += (_, _) => Interlocked.Increment(ref listened);
        await stage.DisposeAsync();

        var error = Assert.Throws<ObjectDisposedException>(stage.Start);
        Assert.Contains("stage 'gone' was disposed", error.Message);
        Assert.Contains("gone", error.ObjectName);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stage.StartAsync());
        // Before the fix the disposed stage started a service thread and listened.
        Assert.Null(stage.LocalEndPoint);
        Assert.Equal(0, stage.ServiceThreadId);
        Assert.Equal(0, listened);
    }

    [Fact]
    public async Task A_server_stage_stopped_before_it_started_does_not_start_afterwards()
    {
        var stage = NewServer("once");
        await stage.StopAsync();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => stage.StartAsync());
        Assert.Equal("stage 'once' was stopped; a stage starts once (create a new one)", error.Message);
        Assert.Null(stage.LocalEndPoint);
        Assert.Equal(0, stage.ServiceThreadId);
        await stage.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(stage.Start);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Waiting_for_a_server_that_never_started_ends_when_it_is_stopped_or_disposed(bool dispose)
    {
        var stage = NewServer("idle");
        var waiting = stage.WaitListeningAsync();
        Assert.False(waiting.IsCompleted);
        if (dispose)
            await stage.DisposeAsync();
        else
            await stage.StopAsync();
        // Before the fix this wait never ended.
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
        Assert.True(waiting.IsCanceled);
        Assert.Equal($"stage 'idle' was {(dispose ? "disposed" : "stopped")} before it listened", error.Message);
        // Asked afterwards, the answer is the same at once.
        var late = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stage.WaitListeningAsync().WaitAsync(Patience));
        Assert.Contains("before it listened", late.Message);
        await stage.DisposeAsync();
    }

    [Fact]
    public async Task Waiting_for_a_server_that_cannot_bind_yet_ends_with_a_reason_when_it_is_stopped()
    {
        using var holder = FreePorts.Taken(out var port);
        var time = new StageTime(); // the retry never comes: the clock does not move
        await using var stage = NewServer("blocked", $"127.0.0.1:{port}", time);
        var failures = 0;
        stage.Error += (_, e) => Interlocked.Increment(ref failures);
        stage.Start();
        await Poll.UntilAsync(() => Volatile.Read(ref failures) >= 1, "the first bind failure");
        var waiting = stage.WaitListeningAsync();
        await stage.StopAsync();
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
        Assert.Equal("stage 'blocked' was stopped before it listened", error.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => stage.StartAsync());
    }

    [Fact]
    public async Task A_disposed_client_stage_refuses_to_connect_instead_of_dialling_forever()
    {
        var port = FreePorts.One();
        var client = NewClient("gone-client", port);
        var waiting = client.WaitConnectedAsync();
        await client.DisposeAsync();
        var ended = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
        Assert.Equal("stage 'gone-client' was disposed before it connected", ended.Message);
        // Before the fix ConnectAsync started the disposed stage, which dialled with nobody to stop it.
        var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ConnectAsync().WaitAsync(Patience));
        Assert.Contains("stage 'gone-client' was disposed", error.Message);
        Assert.Throws<ObjectDisposedException>(client.Start);
        Assert.Equal(0, client.ServiceThreadId);
    }

    [Fact]
    public async Task A_client_stage_stopped_while_dialling_ends_the_waits_and_refuses_what_it_would_never_send()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = NewClient("dialler", port, time);
        var connecting = client.ConnectAsync();
        var waiting = client.WaitConnectedAsync();
        Assert.True(await client.SendAsync("held"u8.ToArray())); // held for a connection that may still come
        await client.StopAsync();
        foreach (var wait in new[] { connecting, waiting, client.ConnectAsync(), client.WaitConnectedAsync() })
        {
            var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Patience));
            Assert.Equal("stage 'dialler' was stopped before it connected", error.Message);
        }
        var dropped = client.GetStats().EgressPacketsDroppedTotal;
        // Before the fix this was true: held for a connection that never comes.
        Assert.False(await client.SendAsync("after the stop"u8.ToArray()));
        Assert.Equal(dropped + 1, client.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_client_stage_that_gave_up_reconnecting_refuses_sends()
    {
        var port = FreePorts.One(); // nobody listens: every attempt is refused
        var time = new StageTime();
        await using var client = NewClient("quitter", port, time, reconnectAttempts: 2);
        var connecting = client.ConnectAsync();
        await time.AdvanceUntilAsync(() => connecting.IsCompleted, TimeSpan.FromMilliseconds(20), "the client to give up");
        await Assert.ThrowsAsync<IOException>(() => connecting);
        // Before the fix this was true: held for a connection that will never come.
        Assert.False(await client.SendAsync("nobody will read this"u8.ToArray()));
        Assert.Equal(1, client.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_message_larger_than_the_hold_is_refused_and_what_is_held_stays()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = NewClient("holder", port, time, egressBufferBytes: 1024);
        var connecting = client.ConnectAsync();
        Assert.True(await client.SendAsync(Encoding.ASCII.GetBytes("kept\n")));
        // Before the fix: true, and the held "kept" was evicted with it.
        Assert.False(await client.SendAsync(new byte[4096]));
        Assert.Equal(1, client.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(4096, client.GetStats().EgressBytesDroppedTotal);

        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(transport));
        await server.StartAsync();
        await time.AdvanceUntilAsync(() => connecting.IsCompleted, TimeSpan.FromMilliseconds(20), "the client to connect");
        await connecting;
        var packets = await server.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= 5, "the held message");
        Assert.Equal("kept\n", Encoding.ASCII.GetString(packets.SelectMany(p => p.Payload).ToArray()));
    }

    [Fact]
    public async Task The_oldest_held_messages_make_room_for_a_new_one_and_are_counted()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = NewClient("room", port, time, egressBufferBytes: 64);
        var connecting = client.ConnectAsync();
        for (var i = 0; i < 5; i++)
            Assert.True(await client.SendAsync(Encoding.ASCII.GetBytes($"held-{i}-678901234567\n"))); // 20 bytes: 3 fit in 64
        Assert.Equal(2, client.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(40, client.GetStats().EgressBytesDroppedTotal);

        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(transport));
        await server.StartAsync();
        await time.AdvanceUntilAsync(() => connecting.IsCompleted, TimeSpan.FromMilliseconds(20), "the client to connect");
        await connecting;
        var packets = await server.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= 60, "the held messages");
        Assert.Equal("held-2-678901234567\nheld-3-678901234567\nheld-4-678901234567\n", Encoding.ASCII.GetString(packets.SelectMany(p => p.Payload).ToArray()));
    }
}
