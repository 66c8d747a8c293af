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
        Assert.StartsWith("Warning Ferry.Nats.Gateway.gone: egress stream ferry_gone_out (NatsGatewayOptions.EgressStream) was missing while the gateway runs (deleted?): recreated it with the configuration it had at start; "
            + $"its consumers gone-{gateway.Nats.Instance}-all, gone-{gateway.Nats.Instance}, gone-any too; egress published to ferry.gone.out reaches clients again", recreated);
        // Recreated at once: no consumer failed long enough to be warned about.
        Assert.DoesNotContain(logs.All, l => l.Contains("keeps failing", StringComparison.Ordinal));
    }

    /// <summary>
    /// Two gateways of one stage; the egress stream is deleted while the second one is paused (SIGSTOP), so the first
    /// recreates it, and egress for the second's client is published before the second notices. It used to be lost: an
    /// interest stream keeps nothing nobody is interested in, and the second's consumers did not exist yet (then were
    /// made "from now on").
    /// </summary>
    [SkippableFact]
    public async Task Egress_for_another_gateway_published_before_it_noticed_the_recreation_reaches_its_client()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var first = await Gateway.StartAsync(server, "tcp_server", FramingSpec.Parse("lines"), o => o.Mode = NatsDeliveryMode.JetStream, logs: logs);
        await using var second = await ServeProcess.StartAsync("--bind", "127.0.0.1:0", "--framing", "lines", "--quiet", "--nats", server.Url, "--nats-mode", "jetstream");
        // The second's instance, from its own consumer's name (tcp_server-<instance>).
        string? instance = null;
        await foreach (var name in js.ListConsumerNamesAsync("ferry_tcp_server_out", deadline.Token))
            if (name.Length == "tcp_server-".Length + 8 && name != $"tcp_server-{first.Nats.Instance}" && name.StartsWith("tcp_server-", StringComparison.Ordinal))
                instance = name["tcp_server-".Length..];
        Assert.NotNull(instance);
        var toSecond = $"ferry.tcp_server.out.{instance}";
        using var client = await TestClient.ConnectAsync(second.Local.Port);
        // No conn.id: to every connection of the gateway whose subject it is. Sent (each poll) until the client is there.
        await Eventually.TrueAsync(async () =>
        {
            (await js.PublishAsync(toSecond, "before"u8.ToArray(), cancellationToken: deadline.Token)).EnsureSuccess();
            return client.Text.Contains("before\n", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(20), () => $"the second gateway's client got: '{client.Text}'");
        var received = client.Text.Length;

        second.Pause();
        try
        {
            await js.DeleteStreamAsync("ferry_tcp_server_out", deadline.Token);
            // The first gateway recreates the stream with its consumers.
            await Eventually.TrueAsync(async () =>
            {
                try
                {
                    await js.GetConsumerAsync("ferry_tcp_server_out", $"tcp_server-{first.Nats.Instance}", deadline.Token);
                    return true;
                }
                catch (NatsJSApiException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(30), () => $"the first gateway did not recreate the egress stream; log: {logs.Text}");
            // What keeps it: a hold of the whole stream that nobody pulls from, deleted by the server after a minute of that.
            var hold = (await js.GetConsumerAsync("ferry_tcp_server_out", "tcp_server-recreated-hold", deadline.Token)).Info.Config;
            Assert.True(string.IsNullOrEmpty(hold.FilterSubject), hold.FilterSubject);
            Assert.Equal(TimeSpan.FromMinutes(1), hold.InactiveThreshold);
            (await js.PublishAsync(toSecond, "after"u8.ToArray(), cancellationToken: deadline.Token)).EnsureSuccess();
        }
        finally
        {
            second.Resume();
        }

        // Old code: never (the second gateway's consumer was made after it, "from now on").
        await client.WaitForTextAsync(t => t.Length > received && t[received..].Contains("after\n", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task The_three_consumers_that_find_the_stream_gone_make_one_attempt_at_a_time_and_back_off_while_it_is_refused()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        using var stop = new CancellationTokenSource();
        var calls = 0;
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var recreator = new StreamRecreator(RecreatedStream.Egress("s_out", "s.out", ["s-1-all", "s-1", "s-any"], "s-recreated-hold", TimeSpan.FromMinutes(1)), _ =>
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
        Assert.Equal("Warning test: egress stream s_out (NatsGatewayOptions.EgressStream) is missing and cannot be recreated: another stream takes s.out; trying again at most every 1 to 30 s while egress published to s.out is stored nowhere and reaches no client",
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
        Assert.Contains(logs.All, l => l.StartsWith("Warning test: egress stream s_out (NatsGatewayOptions.EgressStream) was missing while the gateway runs (deleted?): recreated it with the configuration it had at start; its consumers s-1-all, s-1, s-any too;", StringComparison.Ordinal));
        Assert.Contains("Information test: egress stream s_out (NatsGatewayOptions.EgressStream) takes s.out again", logs.All);

        // Once the gateway stops, never again.
        await stop.CancelAsync();
        time.Advance(TimeSpan.FromMinutes(1));
        await recreator.Nudge();
        Assert.Equal(5, calls);
    }
}
