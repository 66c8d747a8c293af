using Ferry.Framing;
using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// An egress stream deleted under a running JetStream gateway is recreated with the configuration it had at start, with
/// the gateway's three consumers, said once, and egress reaches clients again. It used to stay missing until a restart:
/// workers' egress was stored nowhere and the consumers retried for ever, so nothing reached a client.
/// </summary>
public sealed class EgressStreamRecreationTests
{
    [SkippableFact]
    public async Task A_deleted_egress_stream_is_recreated_with_its_consumers_and_egress_reaches_the_client_again()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var gateway = await Gateway.StartAsync(server, "gone", FramingSpec.Parse("lines"), o => o.Mode = NatsDeliveryMode.JetStream, logs: logs);
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);
        var to = new NatsHeaders { ["conn.id"] = id.ToString() };
        (await js.PublishAsync(gateway.Nats.InstanceEgressSubject, "before"u8.ToArray(), headers: to, cancellationToken: deadline.Token)).EnsureSuccess();
        await client.WaitForTextAsync(t => t == "before\n");
        var before = (await js.GetStreamAsync("ferry_gone_out", cancellationToken: deadline.Token)).Info.Config;
        var consumers = new[] { "gone-any", $"gone-{gateway.Nats.Instance}-all", $"gone-{gateway.Nats.Instance}" };

        await js.DeleteStreamAsync("ferry_gone_out", deadline.Token);

        // The stream is back with the gateway's three consumers (old code: still missing at the deadline).
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                foreach (var consumer in consumers)
                    await js.GetConsumerAsync("ferry_gone_out", consumer, deadline.Token);
                return true;
            }
            catch (NatsJSApiException)
            {
                return false; // the stream or a consumer still missing
            }
        }, TimeSpan.FromSeconds(20), () => $"the egress stream or its consumers are still missing; log: {logs.Text}");
        var after = (await js.GetStreamAsync("ferry_gone_out", cancellationToken: deadline.Token)).Info.Config;
        Assert.Equal(before.Subjects, after.Subjects);
        Assert.Equal(before.Retention, after.Retention);
        Assert.Equal(before.Storage, after.Storage);

        // Egress stored in it reaches the client: on its connection's subject, and on '.any'.
        (await js.PublishAsync(gateway.Nats.InstanceEgressSubject, "to it"u8.ToArray(), headers: to, cancellationToken: deadline.Token)).EnsureSuccess();
        await client.WaitForTextAsync(t => t == "before\nto it\n");
        (await js.PublishAsync("ferry.gone.out.any", "to any one"u8.ToArray(), cancellationToken: deadline.Token)).EnsureSuccess();
        await client.WaitForTextAsync(t => t == "before\nto it\nto any one\n");

        var recreated = Assert.Single(logs.All, l => l.Contains("recreated it with the configuration it had at start", StringComparison.Ordinal));
        Assert.StartsWith("Warning Ferry.Nats.Gateway.gone: egress stream ferry_gone_out (egress_stream) was missing while the gateway runs (deleted?): recreated it with the configuration it had at start; "
            + $"its consumers gone-{gateway.Nats.Instance}-all, gone-{gateway.Nats.Instance}, gone-any too; egress published to ferry.gone.out reaches clients again", recreated);
        // Recreated at once: no consumer failed long enough to be warned about.
        Assert.DoesNotContain(logs.All, l => l.Contains("keeps failing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_three_consumers_that_find_the_stream_gone_make_one_attempt_at_a_time_and_back_off_while_it_is_refused()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        using var stop = new CancellationTokenSource();
        var calls = 0;
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var recreator = new StreamRecreator(RecreatedStream.Egress("s_out", "s.out", ["s-1-all", "s-1", "s-any"]), _ =>
        {
            calls++;
            return answer.Task;
        }, ex => ex.Message, logs.CreateLogger("test"), time, stop.Token);

        // The three consumers find it gone while the first attempt runs: one attempt, the same for all.
        var first = recreator.Nudge();
        Assert.Same(first, recreator.Nudge());
        Assert.Same(first, recreator.Nudge());
        await Eventually.TrueAsync(() => Volatile.Read(ref calls) == 1, TimeSpan.FromSeconds(10), () => "the first attempt never asked the broker");
        answer.SetException(new InvalidOperationException("another stream takes s.out"));
        await first;
        Assert.Equal(1, calls);
        Assert.Equal("Warning test: egress stream s_out (egress_stream) is missing and cannot be recreated: another stream takes s.out; trying again at most every 1 to 30 s while egress published to s.out is stored nowhere and reaches no client",
            Assert.Single(logs.All));

        // Each consumer retries every 250 ms and nudges each time: the broker is asked 1 s, then 2 s, then 4 s apart.
        answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        answer.SetException(new InvalidOperationException("another stream takes s.out"));
        foreach (var wait in new[] { 1, 2, 4 })
        {
            var asked = calls;
            for (var step = 0; step < wait * 4 - 1; step++)
            {
                time.Advance(TimeSpan.FromMilliseconds(250));
                await recreator.Nudge();
            }
            Assert.Equal(asked, calls);
            time.Advance(TimeSpan.FromMilliseconds(250));
            await recreator.Nudge();
            Assert.Equal(asked + 1, calls);
        }
        Assert.Single(logs.All);

        // Given back: recreated, said once, and the refusal's end said.
        answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        answer.SetResult(true);
        time.Advance(TimeSpan.FromSeconds(8));
        await recreator.Nudge();
        Assert.Equal(5, calls);
        Assert.Contains(logs.All, l => l.StartsWith("Warning test: egress stream s_out (egress_stream) was missing while the gateway runs (deleted?): recreated it with the configuration it had at start; its consumers s-1-all, s-1, s-any too;", StringComparison.Ordinal));
        Assert.Contains("Information test: egress stream s_out (egress_stream) takes s.out again", logs.All);

        // Once the gateway stops, never again.
        await stop.CancelAsync();
        time.Advance(TimeSpan.FromMinutes(1));
        await recreator.Nudge();
        Assert.Equal(5, calls);
    }
}
