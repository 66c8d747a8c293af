using System.Diagnostics.Metrics;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Telemetry;

public sealed class FerryMeterTests
{
    [Fact]
    public async Task A_stage_is_tracked_once_and_a_second_track_is_refused_rather_than_counted_twice()
    {
        // Before: a stage tracked by the host and again by hand had every count reported twice under its one tag.
        var name = "once_" + Guid.NewGuid().ToString("N")[..8];
        await using var server = new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0" });
        await using var client = new TcpClientStage(new TcpClientStageOptions { Name = name + "_up", Connect = "127.0.0.1:1" });
        long measured = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name == "ferry.tcp.connections.active")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == FerryMetrics.StageTag && (string?)tag.Value == name)
                    measured++;
        });
        listener.Start();

        using (FerryMetrics.Track(server))
        {
            var twice = Assert.Throws<InvalidOperationException>(() => FerryMetrics.Track(server));
            Assert.StartsWith($"stage '{name}' is on the Ferry meter already", twice.Message);
            listener.RecordObservableInstruments();
            Assert.Equal(1, measured);
        }
        using (FerryMetrics.Track(server))
        {
            measured = 0;
            listener.RecordObservableInstruments();
            Assert.Equal(1, measured);
        }
        using (FerryMetrics.Track(client))
            Assert.Throws<InvalidOperationException>(() => FerryMetrics.Track(client));
    }

    [Fact]
    public void A_statistics_function_that_fails_misses_its_collection_alone_and_a_null_one_is_refused_at_track()
    {
        // Before: Track("broken", null!) was taken, and it (or a function that throws) made every collection of the Ferry
        // meter throw, so no stage was reported at all.
        Assert.Throws<ArgumentNullException>(() => FerryMetrics.Track("broken", null!));
        Assert.Throws<ArgumentException>(() => FerryMetrics.Track("", () => new SocketStats { Stage = "x", Time = DateTimeOffset.UnixEpoch, Interval = TimeSpan.Zero }));
        var (good, bad) = ("good_" + Guid.NewGuid().ToString("N")[..8], "bad_" + Guid.NewGuid().ToString("N")[..8]);
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name == "ferry.tcp.connections.accepted")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == FerryMetrics.StageTag && tag.Value is string stage && (stage == good || stage == bad))
                    seen[stage] = value;
        });
        listener.Start();
        using var failing = FerryMetrics.Track(bad, () => throw new IOException("gone"));
        using var working = FerryMetrics.Track(good, () => new SocketStats { Stage = good, Time = DateTimeOffset.UnixEpoch, Interval = TimeSpan.Zero, AcceptedTotal = 7 });

        listener.RecordObservableInstruments();

        Assert.Equal(7, seen[good]);
        Assert.False(seen.ContainsKey(bad));
    }

    [Fact]
    public async Task The_Ferry_meter_reports_what_SocketStats_says_tagged_with_the_stage()
    {
        var name = "meter_" + Guid.NewGuid().ToString("N")[..8];
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", MaxConnections = 2, Framing = Ferry.Framing.FramingSpec.Parse("lines") });
        using var tracking = FerryMetrics.Track(stage);
        var at = await stage.StartAsync();
        using var a = await FramedTestClient.ConnectAsync(at);
        using var b = await FramedTestClient.ConnectAsync(at);
        try { using var refused = await FramedTestClient.ConnectAsync(at); } catch (System.Net.Sockets.SocketException) { }
        await a.SendAsync("one\ntwo\n");
        await b.SendAsync("\xff\n"); // not a frame error for lines; bytes still count
        // The clients are connected once their connect returns, the stage only once its loop has taken them.
        await Poll.UntilAsync(() => stage.GetConnections().Count == 2, "both clients taken by the stage");
        await stage.SendAsync(stage.GetConnections()[0].Id, "back"u8.ToArray());
        // A join the stage refuses: a name over max_group_name_length (default 256).
        Assert.Throws<ArgumentException>(() => stage.JoinGroup(stage.GetConnections()[0].Id, new string('g', 300)));
        await Poll.UntilAsync(() => stage.GetStats() is { ConnectionsNow: 2, RejectedTotal: 1, PacketsReceivedTotal: 3, BytesSentTotal: 5 }, "the traffic counted");

        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == FerryMetrics.StageTag && (string?)tag.Value == name)
                    seen[instrument.Name] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        var stats = stage.GetStats();

        Assert.Equal(stats.ConnectionsNow, seen["ferry.tcp.connections.active"]);
        Assert.Equal(stats.AcceptedTotal, seen["ferry.tcp.connections.accepted"]);
        Assert.Equal(stats.RejectedTotal, seen["ferry.tcp.connections.rejected"]);
        Assert.Equal(stats.ClosedTotal, seen["ferry.tcp.connections.closed"]);
        Assert.Equal(stats.BytesReceivedTotal, seen["ferry.tcp.bytes.read"]);
        Assert.Equal(stats.BytesSentTotal, seen["ferry.tcp.bytes.written"]);
        Assert.Equal(stats.PacketsReceivedTotal, seen["ferry.tcp.packets.read"]);
        Assert.Equal(stats.PacketsSentTotal, seen["ferry.tcp.packets.written"]);
        Assert.Equal(stats.FrameErrorsTotal, seen["ferry.tcp.frame.errors"]);
        Assert.Equal(stats.EgressPacketsDroppedTotal, seen["ferry.tcp.egress.dropped"]);
        Assert.Equal(stats.EgressBytesDroppedTotal, seen["ferry.tcp.egress.dropped_bytes"]);
        Assert.Equal(stats.GroupsPublishedTotal, seen["ferry.tcp.groups.published"]);
        Assert.Equal(stats.EgressUnknownTargetTotal, seen["ferry.tcp.egress.unknown_target"]);
        Assert.Equal(stats.GroupJoinsRefusedTotal, seen["ferry.tcp.group.joins_refused"]);
        Assert.Equal(1, seen["ferry.tcp.group.joins_refused"]);
        Assert.Equal(2, seen["ferry.tcp.connections.active"]);
        Assert.Equal(1, seen["ferry.tcp.connections.rejected"]);

        // disconnections by reason: the refused one (limit), then a client leaving (remote_closed)
        var reasons = new Dictionary<string, long>();
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? stageTag = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == FerryMetrics.StageTag) stageTag = (string?)tag.Value;
                if (tag.Key == FerryMetrics.ReasonTag) reason = (string?)tag.Value;
            }
            if (instrument.Name == "ferry.tcp.disconnections" && stageTag == name && reason is not null)
                reasons[reason] = value;
            else if (stageTag == name)
                seen[instrument.Name] = value;
        });
        var closedBefore = stats.ClosedTotal;
        a.Dispose();
        await Poll.UntilAsync(() =>
        {
            listener.RecordObservableInstruments();
            return reasons.Keys.Any(k => k != "limit") && seen.GetValueOrDefault("ferry.tcp.connections.closed") == closedBefore + 1;
        }, "the client's close counted by reason");
        Assert.Equal(1, reasons["limit"]);
        var reason = Assert.Single(reasons.Keys, k => k != "limit");
        Assert.Contains(reason, new[] { "remote_closed", "reset" }); // unread egress at close makes it a reset
        Assert.Equal(1, reasons[reason]);
        Assert.Equal(closedBefore + 1, seen["ferry.tcp.connections.closed"]);

        tracking.Dispose();
        seen.Clear();
        listener.RecordObservableInstruments();
        Assert.Empty(seen); // an untracked stage is no longer reported
    }
}
