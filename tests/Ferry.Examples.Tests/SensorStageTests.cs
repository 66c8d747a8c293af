using System.Collections.Concurrent;
using Ferry.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using SensorStage;

namespace Ferry.Examples.Tests;

public sealed class SensorStageTests : IAsyncLifetime
{
    private const int GroupSize = 16;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ConcurrentQueue<SensorReport> _reports = new();
    private SensorServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await SensorServer.StartAsync(new SensorServerOptions
        {
            Bind = $"127.0.0.1:{FreePorts.One()}", GroupSize = GroupSize, GroupLinger = TimeSpan.FromMilliseconds(5), Affinity = [0], Time = _time,
            ReceiveTimeout = TimeSpan.FromHours(1),   // the fake clock runs on while the test polls
        });
        _server.Reported += _reports.Enqueue;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Readings_split_across_recvs_and_mixed_in_groups_are_all_counted_and_stats_come_each_second()
    {
        const int PerSensor = 400;
        var sensors = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => SensorSimulator.ConnectAsync(_server.LocalEndPoint, (ushort)id)));
        try
        {
            await Task.WhenAll(sensors.Select(s => s.StreamAsync(PerSensor, TimeSpan.Zero)));
            await Poll.UntilAsync(() => _server.Stage.GetStats().BytesReceivedTotal == 3 * PerSensor * SensorSample.Size,
                "the stage has read every byte", TimeSpan.FromSeconds(30));

            // The clock has not moved, so no group has lingered: only full groups are out so far. The stage counts a
            // read's bytes before it counts its packet, so the packet count is read afresh until the groups match it.
            long packets = 0;
            await Poll.UntilAsync(() => _server.Sensors.Groups == (packets = _server.Stage.GetStats().PacketsReceivedTotal) / GroupSize
                && _server.Sensors.Packets == packets / GroupSize * GroupSize, "only the full groups are published");
            if (packets >= GroupSize)
                Assert.Equal(GroupSize, _server.Sensors.LargestGroup);

            // The rest goes out group_linger after its first packet: move the fake clock on.
            _time.Advance(TimeSpan.FromMilliseconds(5));
            await Poll.UntilAsync(() => _server.Sensors.Snapshot() is { Count: 3 } all && all.All(s => s.Samples == PerSensor),
                "every reading of every sensor is counted");
            Assert.Equal(_server.Stage.GetStats().PacketsReceivedTotal, _server.Sensors.Packets);
            Assert.InRange(_server.Sensors.LargestGroup, 1, GroupSize);

            foreach (var (figures, id) in _server.Sensors.Snapshot().Zip(new ushort[] { 1, 2, 3 }))
            {
                Assert.Equal(id, figures.Sensor);
                Assert.Equal(0, figures.Lost);
                Assert.Equal((uint)PerSensor - 1, figures.LastSequence);
                Assert.Equal(SensorSample.Simulated(id, PerSensor - 1), figures.Last);   // every byte reassembled right
            }

            // One second later (fake), socket_stats arrives with the stage's figures.
            _reports.Clear();
            _time.Advance(TimeSpan.FromSeconds(1));
            await Poll.UntilAsync(() => !_reports.IsEmpty, "the 1 Hz report");
            var report = _reports.First();
            Assert.Equal(3, report.Stage.ConnectionsNow);
            Assert.Equal(_server.Sensors.Packets, report.Stage.PacketsReceivedTotal);
            Assert.Equal(3 * PerSensor * SensorSample.Size, report.Stage.BytesReceivedTotal);
            Assert.Equal(_server.Sensors.Groups, report.Stage.GroupsPublishedTotal);
            Assert.Equal(3, report.Sensors.Count);
        }
        finally
        {
            foreach (var sensor in sensors)
                sensor.Dispose();
        }
    }

    [Fact]
    public async Task A_command_on_egress_packets_reaches_every_sensor()
    {
        var sensors = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => SensorSimulator.ConnectAsync(_server.LocalEndPoint, (ushort)id)));
        try
        {
            await Poll.UntilAsync(() => _server.Stage.ConnectionCount == 3, "three sensors are connected");
            await _server.SendCommandAsync("rate=100"u8.ToArray());
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            foreach (var sensor in sensors)
                Assert.Equal("rate=100"u8.ToArray(), await sensor.ReceiveAsync(deadline.Token));
        }
        finally
        {
            foreach (var sensor in sensors)
                sensor.Dispose();
        }
    }

    [Fact]
    public void The_service_thread_is_pinned_to_the_configured_cpu()
    {
        var status = File.ReadAllLines($"/proc/self/task/{_server.Stage.ServiceThreadId}/status");
        var allowed = status.Single(line => line.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
        Assert.Equal("0", allowed.Split(':')[1].Trim());
    }
}
