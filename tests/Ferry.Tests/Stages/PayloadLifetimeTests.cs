using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// The trial's repro (issue 14): payloads, groups and JSON documents kept past their handler must never
/// show bytes of another message; reading them throws <see cref="ObjectDisposedException"/>, and keeping
/// data takes one explicit call.
/// </summary>
public abstract class PayloadLifetimeTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : PayloadLifetimeTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : PayloadLifetimeTests(StageTransport.Stream);

    private const int Messages = 5;

    private sealed record Kept(List<ReadOnlyMemory<byte>> Payloads, List<Packet> Packets, List<PacketGroup> Groups, List<JsonDocument> Documents,
        List<byte[]> Copies, List<IDisposable> Leases, List<ReadOnlyMemory<byte>> RetainedPayloads);

    /// <summary>Sends five JSON lines one by one, and a sixth so every kept group's slab has been reused.</summary>
    private async Task<Kept> KeepEverythingAsync(bool retain)
    {
        var kept = new Kept([], [], [], [], [], [], []);
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("lines"), GroupSize = 1 }.On(transport), recordPackets: false);
        using var subscription = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe((group, _) =>
        {
            lock (kept)
            {
                kept.Groups.Add(group);
                foreach (var packet in group)
                {
                    kept.Packets.Add(packet);
                    kept.Payloads.Add(packet.Payload);
                    kept.Documents.Add(JsonDocument.Parse(packet.Payload));
                    kept.Copies.Add(packet.Payload.ToArray());
                    if (retain)
                    {
                        kept.Leases.Add(group.Retain());
                        kept.RetainedPayloads.Add(packet.Payload);
                    }
                }
            }
            return default;
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        for (var i = 0; i < Messages + 1; i++)
        {
            await client.SendAsync($"{{\"text\":\"message-{i}-{new string((char)('a' + i), 20)}\"}}\n");
            await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == i + 1, $"message {i} to be read");
        }
        await Poll.UntilAsync(() => { lock (kept) return kept.Copies.Count == Messages + 1; }, "every message handled");
        return kept;
    }

    [Fact]
    public async Task Kept_payloads_throw_instead_of_showing_another_message()
    {
        var kept = await KeepEverythingAsync(retain: false);
        for (var i = 0; i < Messages; i++)
        {
            var payload = kept.Payloads[i];
            var e = Assert.Throws<ObjectDisposedException>(() => payload.Span.ToArray());
            Assert.Contains("ToArray", e.Message); // the message says how to keep data
            var packet = kept.Packets[i];
            Assert.Throws<ObjectDisposedException>(() => Encoding.UTF8.GetString(packet.Payload.Span));
            // The length is the packet's own (metadata, not bytes): fine to read.
            Assert.Equal(kept.Copies[i].Length, payload.Length);
        }
    }

    [Fact]
    public async Task A_kept_group_throws_instead_of_reading_empty_or_foreign()
    {
        var kept = await KeepEverythingAsync(retain: false);
        foreach (var group in kept.Groups.Take(Messages))
        {
            Assert.True(group.IsReleased);
            Assert.Throws<ObjectDisposedException>(() => group.Count);
            Assert.Throws<ObjectDisposedException>(() => group[0]);
            Assert.Throws<ObjectDisposedException>(() => { foreach (var _ in group) { } });
            Assert.Throws<ObjectDisposedException>(() => group.Retain());
        }
    }

    [Fact]
    public async Task A_kept_JsonDocument_throws_instead_of_reading_reused_memory()
    {
        var kept = await KeepEverythingAsync(retain: false);
        foreach (var document in kept.Documents.Take(Messages))
            Assert.Throws<ObjectDisposedException>(() => document.RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Copies_and_retained_groups_keep_their_own_bytes()
    {
        var kept = await KeepEverythingAsync(retain: true);
        for (var i = 0; i < Messages + 1; i++)
        {
            var expected = $"{{\"text\":\"message-{i}-{new string((char)('a' + i), 20)}\"}}";
            Assert.Equal(expected, Encoding.UTF8.GetString(kept.Copies[i]));
            Assert.Equal(expected, Encoding.UTF8.GetString(kept.RetainedPayloads[i].Span));
            Assert.False(kept.Groups[i].IsReleased);
            Assert.Equal(1, kept.Groups[i].Count);
        }
        foreach (var lease in kept.Leases)
        {
            lease.Dispose();
            lease.Dispose(); // a second dispose gives nothing back twice
        }
        Assert.All(kept.Groups, g => Assert.True(g.IsReleased));
        Assert.Throws<ObjectDisposedException>(() => kept.RetainedPayloads[0].Span.Length);
    }

    [Fact]
    public async Task A_queue_reader_keeps_a_group_until_it_reads_the_next()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupSize = 1 }.On(transport), recordPackets: false);
        using var queue = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).SubscribeQueue();
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync("first");
        await using var reader = queue.GetAsyncEnumerator();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.True(await reader.MoveNextAsync().AsTask().WaitAsync(cts.Token));
        var first = reader.Current;
        var payload = first[0].Payload;
        Assert.Equal("first", Encoding.UTF8.GetString(payload.Span));
        await client.SendAsync("second");
        Assert.True(await reader.MoveNextAsync().AsTask().WaitAsync(cts.Token));
        Assert.Equal("second", Encoding.UTF8.GetString(reader.Current[0].Payload.Span));
        Assert.Throws<ObjectDisposedException>(() => payload.Span.Length);
        Assert.True(first.IsReleased);
    }
}
