using System.Buffers.Binary;
using System.Collections.Concurrent;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Stages;

/// <summary>What a client holding a frame open may cost the stage: a deadline (<c>frame_timeout</c>) and a budget (<c>max_pending_bytes</c>).</summary>
public sealed class PartialFrameLimitTests
{
    [Fact]
    public async Task A_frame_trickled_in_is_closed_at_frame_timeout_counted_from_its_first_byte()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var stage = new Recorder(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines"), FrameTimeout = TimeSpan.FromSeconds(30) }, time);
        using var client = await stage.ConnectAsync();
        await client.SendAsync("whole\nhalf");
        var id = (await stage.WaitAsync<ConnectedEvent>()).ConnectionId;
        await stage.WaitPacketsAsync(1);

        await stage.AdvanceAsync(TimeSpan.FromSeconds(20));
        await client.SendAsync(" more"); // still no end of line: the same frame, its deadline does not move
        await stage.WaitBytesInAsync(15);
        await stage.AdvanceAsync(TimeSpan.FromSeconds(9));
        Assert.DoesNotContain(stage.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == id);

        await stage.AdvanceAsync(TimeSpan.FromSeconds(2));
        var closed = await stage.WaitAsync<DisconnectedEvent>(e => e.ConnectionId == id);
        Assert.Equal(DisconnectReason.FrameTimeout, closed.Reason);
        Assert.Equal("frame_timeout", closed.ReasonName);
        Assert.Contains("frame_timeout 30000 ms", closed.Detail);
        Assert.True(await client.WaitClosedAsync());
    }

    [Fact]
    public async Task A_client_that_completes_its_frames_keeps_a_fresh_deadline_for_each()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var stage = new Recorder(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines"), FrameTimeout = TimeSpan.FromSeconds(30) }, time);
        using var client = await stage.ConnectAsync();
        var id = (await stage.WaitAsync<ConnectedEvent>()).ConnectionId;
        for (var i = 1; i <= 4; i++)
        {
            // Each send completes the frame begun by the last one and begins another.
            await client.SendAsync($"end {i}\nbegin {i}");
            await stage.WaitPacketsAsync(i);
            await stage.AdvanceAsync(TimeSpan.FromSeconds(20));
        }
        Assert.DoesNotContain(stage.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == id);
    }

    [Fact]
    public async Task A_connection_whose_partial_frame_would_break_the_budget_is_closed_and_the_others_go_on()
    {
        await using var stage = new Recorder(new TcpServerStageOptions
        {
            Framing = FramingSpec.Parse("u32be,max_frame_bytes=8388608"),
            MaxPendingBytes = 1024 * 1024,
        }, TimeProvider.System);
        using var small = await stage.ConnectAsync();
        var smallId = (await stage.WaitAsync<ConnectedEvent>()).ConnectionId;
        await small.SendAsync(Header(100).Concat(new byte[50]).ToArray());
        await stage.WaitBytesInAsync(54);

        using var big = await stage.ConnectAsync();
        var bigId = (await stage.WaitAsync<ConnectedEvent>(e => e.ConnectionId != smallId)).ConnectionId;
        var frame = Header(4 * 1024 * 1024).Concat(new byte[3 * 1024 * 1024]).ToArray();
        _ = big.SendAsync(frame).ContinueWith(_ => { }, TaskScheduler.Default); // the stage may close it mid-send
        var closed = await stage.WaitAsync<DisconnectedEvent>(e => e.ConnectionId == bigId);
        Assert.Equal(DisconnectReason.MemoryLimit, closed.Reason);
        Assert.Contains("max_pending_bytes 1048576", closed.Detail);

        await small.SendAsync(new byte[50]);
        var packet = (await stage.WaitPacketsAsync(1)).Single();
        Assert.Equal(smallId, packet.ConnectionId);
        Assert.Equal(100, packet.Length);
        Assert.DoesNotContain(stage.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == smallId);
    }

    [Theory]
    [InlineData("u32be,max_frame_bytes=1024,on_error=skip")]
    [InlineData("lines,max_frame_bytes=1024,on_error=skip")]
    public async Task A_bad_frame_being_skipped_is_closed_at_frame_timeout_counted_from_its_first_byte(string framing)
    {
        // The bad frame's start (an oversize header, or a line already longer than allowed), then its body a trickle at a time:
        // the stage buffers none of it, and still a frame is unfinished.
        var lines = framing.StartsWith("lines", StringComparison.Ordinal);
        var start = lines ? new byte[2000] : Header(1_000_000).Concat(new byte[2000]).ToArray();
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var stage = new Recorder(new TcpServerStageOptions { Framing = FramingSpec.Parse(framing), FrameTimeout = TimeSpan.FromSeconds(30) }, time);
        using var client = await stage.ConnectAsync();
        var id = (await stage.WaitAsync<ConnectedEvent>()).ConnectionId;
        await client.SendAsync(start);
        await stage.WaitAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Frame);
        await stage.WaitBytesInAsync(start.Length);

        await stage.AdvanceAsync(TimeSpan.FromSeconds(20));
        await client.SendAsync(new byte[100]); // more of the same frame: its deadline does not move
        await stage.WaitBytesInAsync(start.Length + 100);
        await stage.AdvanceAsync(TimeSpan.FromSeconds(9));
        Assert.DoesNotContain(stage.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == id);

        await stage.AdvanceAsync(TimeSpan.FromSeconds(2));
        var closed = await stage.WaitAsync<DisconnectedEvent>(e => e.ConnectionId == id);
        Assert.Equal(DisconnectReason.FrameTimeout, closed.Reason);
        Assert.Contains("a bad frame being skipped since", closed.Detail);
        Assert.Contains("frame_timeout 30000 ms", closed.Detail);
    }

    [Theory]
    [InlineData("u32be,max_frame_bytes=1024,on_error=skip")]
    [InlineData("lines,max_frame_bytes=1024,on_error=skip")]
    public async Task A_client_quiet_after_a_skipped_frame_has_ended_is_not_closed_for_frame_timeout(string framing)
    {
        var lines = framing.StartsWith("lines", StringComparison.Ordinal);
        // The whole bad frame, then a good one.
        var good = lines ? "ok\n"u8.ToArray() : Header(2).Concat("ok"u8.ToArray()).ToArray();
        var bad = lines ? new byte[2000].Concat("\n"u8.ToArray()).ToArray() : Header(2000).Concat(new byte[2000]).ToArray();
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var stage = new Recorder(new TcpServerStageOptions { Framing = FramingSpec.Parse(framing), FrameTimeout = TimeSpan.FromSeconds(30) }, time);
        using var client = await stage.ConnectAsync();
        var id = (await stage.WaitAsync<ConnectedEvent>()).ConnectionId;
        await client.SendAsync(bad);
        await stage.WaitBytesInAsync(bad.Length);
        await stage.AdvanceAsync(TimeSpan.FromSeconds(31));
        await client.SendAsync(good);
        await stage.WaitPacketsAsync(1);
        await stage.AdvanceAsync(TimeSpan.FromSeconds(31));
        await client.SendAsync(bad);
        await stage.WaitBytesInAsync(2 * bad.Length + good.Length);
        await stage.AdvanceAsync(TimeSpan.FromSeconds(31));
        await client.SendAsync(good);
        await stage.WaitPacketsAsync(2);
        Assert.DoesNotContain(stage.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == id);
    }

    [Theory]
    [InlineData("0.5ms")]
    [InlineData("-1s")]
    public void Deadlines_below_a_millisecond_or_negative_are_refused_not_taken_as_never(string value)
    {
        var span = value == "0.5ms" ? TimeSpan.FromMilliseconds(0.5) : TimeSpan.FromSeconds(-1);
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { IdleTimeout = span, FrameTimeout = span }.Validate());
        Assert.Contains("TcpServerStageOptions.IdleTimeout", error.Message);
        Assert.Contains("TcpServerStageOptions.FrameTimeout", error.Message);
        Assert.Contains("must be 0 (never) or at least 1 ms", error.Message);
        Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions { Connect = "127.0.0.1:1", FrameTimeout = span }.Validate());
    }

    [Fact]
    public void A_pending_budget_too_small_to_hold_a_read_is_refused()
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { MaxPendingBytes = 100 }.Validate());
        Assert.Contains("TcpServerStageOptions.MaxPendingBytes: 100 is not allowed; must be 0 (no limit) or at least 4096", error.Message);
    }

    private static byte[] Header(int length)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, length);
        return header;
    }

    /// <summary>A server stage on port 0 on the given clock, recording events, packets and stats samples.</summary>
    private sealed class Recorder : IAsyncDisposable
    {
        private readonly TcpServerStage _stage;
        private readonly FakeTimeProvider? _time;
        private readonly ConcurrentQueue<StageEvent> _events = new();
        private readonly ConcurrentQueue<(ConnectionId ConnectionId, int Length)> _packets = new();
        private readonly IDisposable _subscription;
        private SocketStats? _lastStats;
        private System.Net.IPEndPoint? _endPoint;

        public Recorder(TcpServerStageOptions options, TimeProvider time)
        {
            var bus = new InProcessBus();
            _time = time as FakeTimeProvider;
            _stage = new TcpServerStage(options with { Bind = "127.0.0.1:0" }, bus, timeProvider: time);
            _stage.Connected += (_, e) => _events.Enqueue(e);
            _stage.Disconnected += (_, e) => _events.Enqueue(e);
            _stage.Error += (_, e) => _events.Enqueue(e);
            _stage.StatsPublished += (_, s) => Volatile.Write(ref _lastStats, s);
            _subscription = bus.Topic<PacketGroup>(StageTopics.PacketGroup(options.Name)).Subscribe((group, _) =>
            {
                foreach (var p in group)
                    _packets.Enqueue((p.ConnectionId, p.Payload.Length));
                return default;
            });
        }

        public IEnumerable<StageEvent> Events => _events;

        public async Task<FramedTestClient> ConnectAsync()
        {
            _endPoint ??= await _stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
            return await FramedTestClient.ConnectAsync(_endPoint);
        }

        public async Task<T> WaitAsync<T>(Func<T, bool>? match = null) where T : StageEvent
        {
            T? found = null;
            await Poll.UntilAsync(() => (found = _events.OfType<T>().FirstOrDefault(e => match?.Invoke(e) ?? true)) is not null, $"a {typeof(T).Name}");
            return found!;
        }

        public async Task<List<(ConnectionId ConnectionId, int Length)>> WaitPacketsAsync(int count)
        {
            await Poll.UntilAsync(() => _packets.Count >= count, $"{count} packets");
            return [.. _packets];
        }

        public Task WaitBytesInAsync(long bytes) => Poll.UntilAsync(() => _stage.GetStats().BytesReceivedTotal >= bytes, $"{bytes} bytes received");

        /// <summary>Moves the fake clock and waits until the loop has run at the new time (a stats sample stamped then).</summary>
        public async Task AdvanceAsync(TimeSpan by)
        {
            _time!.Advance(by);
            var now = _time.GetUtcNow();
            await Poll.UntilAsync(() => Volatile.Read(ref _lastStats) is { } s && s.Time >= now, "the stage to run at the new time");
        }

        public async ValueTask DisposeAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _stage.StopAsync(cts.Token);
            await _stage.DisposeAsync();
            _subscription.Dispose();
        }
    }
}
