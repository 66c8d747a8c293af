using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Internal;

/// <summary>
/// JetStream egress, at least once. Durable consumers of the egress stream: one per gateway instance on the
/// shared subject, one on the instance's subject, and one shared by all gateways on <c>.any</c>. A message is
/// acknowledged once it is in the connection's egress buffer, or when it can never be delivered (the
/// connection is gone: counted). One that met a full egress buffer is left unacknowledged and comes back
/// after the ack wait; <c>max_ack_pending</c> bounds how many are out at once. The stream deleted under the running
/// gateway is recreated with the configuration it had at start, and the consumers with it (<see cref="StreamRecreator"/>).
/// </summary>
/// <param name="js">The gateway's JetStream context.</param>
/// <param name="router">Where each message goes.</param>
/// <param name="subjects">The gateway's egress subjects.</param>
/// <param name="streamConfig">The egress stream as it was at start: what it is recreated with.</param>
/// <param name="maxPending">max_pending_egress: each consumer's max_ack_pending.</param>
/// <param name="logger">Where trouble is said.</param>
/// <param name="watch">Says a loop that ends unexpectedly.</param>
/// <param name="describe">What a refused recreation means, in the operator's words.</param>
/// <param name="time">The clock of the recreation's back-off.</param>
/// <param name="say">Names an option in the words of whoever set the gateway's options (<see cref="NatsGatewayOptions.Say"/>).</param>
internal sealed class JetStreamEgress(NatsJSContext js, EgressRouter router, EgressSubjects subjects, StreamConfig streamConfig, int maxPending, ILogger logger,
    LoopWatch watch, Func<Exception, string> describe, TimeProvider time, Func<string, string> say)
{
    private readonly string stream = streamConfig.Name!;

    private static readonly TimeSpan AckWait = TimeSpan.FromSeconds(5);
    // Per-instance consumers outlive a gateway that died without cleaning up by this much.
    private static readonly TimeSpan InstanceConsumerLifetime = TimeSpan.FromHours(1);
    private static readonly TimeSpan RetryWait = TimeSpan.FromMilliseconds(250);
    // Failures in a row, while the broker is connected, before a consumer's trouble is said at warning level: about
    // 2 s of retrying. A broker outage is the gateway's own line ("NATS connection … lost"), not this one.
    private const int FailuresBeforeWarning = 8;
    // A message whose routing throws: how many deliveries it gets, and how far apart.
    private const ulong MaxFailedDeliveries = 3;
    private static readonly TimeSpan FailedRetryDelay = TimeSpan.FromSeconds(1);

    /// <param name="beforeClaim">The tests' hook: awaited just before the gateway decides whether it may use the shared consumer.</param>
    /// <param name="stopping">Set when the gateway stops.</param>
    public async Task<Task> StartAsync(Func<Task>? beforeClaim, CancellationToken stopping)
    {
        var anyConfig = Config($"{subjects.Stage}-any", subjects.Any, perInstance: false);
        var any = new SharedAnyConsumer(js, stream, anyConfig, logger, subjects, say);
        var shared = new InstanceConsumer(js, stream, Config($"{subjects.Stage}-{subjects.Instance}-all", subjects.Shared, perInstance: true));
        var own = new InstanceConsumer(js, stream, Config($"{subjects.Stage}-{subjects.Instance}", subjects.Own, perInstance: true));
        // One for the three consumers: whichever finds the stream gone first starts the attempt, the others wait for it.
        var recreator = new StreamRecreator(RecreatedStream.Egress(stream, subjects.Shared, [shared.Name, own.Name, anyConfig.Name!], HoldName, HoldFor, say("egress_stream")),
            ct => RecreateAsync(any, shared, own, ct), describe, logger, time, stopping);

        // Its own consumers first, pulling before the shared one is claimed: how the stage's other gateways know that one
        // runs with this max_pending_egress (SharedAnyConsumer). Until the claim succeeds their loops end with it.
        var starting = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        Task sharedLoop = Task.CompletedTask, ownLoop = Task.CompletedTask;
        try
        {
            // Each request named, so that one the server leaves unanswered is said as that one (JetStreamSetup.AskAsync).
            await JetStreamSetup.AskAsync(js, $"create consumer '{shared.Name}' of stream '{stream}'", () => shared.ClaimAsync(stopping)).ConfigureAwait(false);
            await JetStreamSetup.AskAsync(js, $"create consumer '{own.Name}' of stream '{stream}'", () => own.ClaimAsync(stopping)).ConfigureAwait(false);
            sharedLoop = RunAsync(shared.Config, shared.OpenAsync, false, recreator, starting.Token);
            ownLoop = RunAsync(own.Config, own.OpenAsync, false, recreator, starting.Token);
            await WaitPullingAsync(own.Name, stopping).ConfigureAwait(false);
            if (beforeClaim is not null)
                await beforeClaim().ConfigureAwait(false);
            await JetStreamSetup.AskAsync(js, $"check and create the shared consumer '{anyConfig.Name}' of stream '{stream}'", () => any.ClaimAsync(own.Name, stopping))
                .ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A gateway that may not run changes nothing: its consumers go, so that no other one takes it for running.
            await starting.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(sharedLoop, ownLoop).WaitAsync(WithdrawTimeout, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            starting.Dispose();
            foreach (var name in new[] { shared.Name, own.Name })
            {
                try
                {
                    using var withdraw = new CancellationTokenSource(WithdrawTimeout);
                    await js.DeleteConsumerAsync(stream, name, withdraw.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    logger.LogDebug(ex, "egress consumer {Consumer} of stream {Stream} could not be deleted after the failed start; the server deletes it after an hour unused", name, stream);
                }
            }
            throw;
        }
        return Task.WhenAll(Watch(shared.Config, sharedLoop), Watch(own.Config, ownLoop),
            Watch(anyConfig, RunAsync(anyConfig, any.OpenAsync, true, recreator, stopping)));

        Task Watch(ConsumerConfig config, Task loop) => watch.Watch($"egress consumer {config.Name} of stream {stream}", loop);
    }

    private static readonly TimeSpan WithdrawTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PullingTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Until the server has a pull request of this gateway's on its own consumer.</summary>
    private async Task WaitPullingAsync(string name, CancellationToken stopping)
    {
        var deadline = time.GetTimestamp() + (long)(PullingTimeout.TotalSeconds * time.TimestampFrequency);
        while ((await JetStreamSetup.AskAsync(js, $"look up consumer '{name}' of stream '{stream}' (for its pull request)",
                   async () => await js.GetConsumerAsync(stream, name, stopping).ConfigureAwait(false)).ConfigureAwait(false)).Info.NumWaiting == 0)
        {
            if (time.GetTimestamp() > deadline)
                throw new InvalidOperationException(
                    $"the egress consumer '{name}' of stream '{stream}' has no pull request of this gateway's after {PullingTimeout.TotalSeconds:0} s, so the stage's other gateways cannot see that it runs");
            await Task.Delay(TimeSpan.FromMilliseconds(20), time, stopping).ConfigureAwait(false);
        }
    }

    // What a recreated stream takes is kept this long for the stage's other gateways (see RecreateAsync).
    internal static readonly TimeSpan HoldFor = TimeSpan.FromMinutes(1);

    private string HoldName => $"{subjects.Stage}-recreated-hold";

    // The hold is owed from the attempt that created the stream until it is made (an attempt refused in between).
    private bool _holdOwed;

    /// <summary>
    /// The stream as it was at start, and the consumers with it at once, before any loop resumes: an interest stream
    /// keeps nothing nobody is interested in, so egress published between the stream and its consumers would be lost.
    /// The stage's other gateways recreate their own consumers only once they notice, seconds later: a gateway that
    /// creates the stream first makes a hold consumer of the whole stream that nobody pulls from (the server deletes it
    /// after <see cref="HoldFor"/> of that), so that what the stream takes meanwhile is kept; the others' consumers, found
    /// missing on a stream that is not the one they were made on, start from its start (<see cref="InstanceConsumer"/>).
    /// What it held, once the hold goes, is removed by the server as soon as no other consumer needs it.
    /// The shared one keeps its rules: created only if missing (another gateway of the stage may have been first).
    /// </summary>
    private async Task<bool> RecreateAsync(SharedAnyConsumer any, InstanceConsumer shared, InstanceConsumer own, CancellationToken stopping)
    {
        var created = await JetStreamSetup.CreateIfMissingAsync(js, streamConfig, stopping).ConfigureAwait(false);
        if (created)
            _holdOwed = true;
        if (_holdOwed)
        {
            await js.CreateOrUpdateConsumerAsync(stream, new ConsumerConfig(HoldName)
            {
                AckPolicy = ConsumerConfigAckPolicy.Explicit,
                DeliverPolicy = ConsumerConfigDeliverPolicy.All,
                InactiveThreshold = HoldFor,
                Description = $"made by gateway {subjects.Instance} when it recreated the stream: keeps what it takes until the stage's other gateways have made their consumers again; nobody pulls from it, the server deletes it after {HoldFor.TotalSeconds:0} s",
            }, stopping).ConfigureAwait(false);
            _holdOwed = false;
        }
        await any.OpenAsync(stopping).ConfigureAwait(false);
        await shared.OpenAsync(stopping).ConfigureAwait(false);
        await own.OpenAsync(stopping).ConfigureAwait(false);
        return created;
    }

    private ConsumerConfig Config(string name, string subject, bool perInstance)
    {
        var config = new ConsumerConfig(name)
        {
            FilterSubject = subject,
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = AckWait,
            MaxAckPending = maxPending,
            // A new gateway instance takes what is published from now on; the shared "any" consumer keeps its place.
            DeliverPolicy = perInstance ? ConsumerConfigDeliverPolicy.New : ConsumerConfigDeliverPolicy.All,
        };
        if (perInstance)
            config.InactiveThreshold = InstanceConsumerLifetime;
        return config;
    }

    /// <summary>
    /// A message whose routing threw what the gateway does not anticipate. It used to end the consume, unacknowledged,
    /// so it came back after the ack wait and failed again, for ever, said only at debug level. Now a failure that may
    /// pass (a race with a closing connection) gets <see cref="MaxFailedDeliveries"/> deliveries, <see cref="FailedRetryDelay"/>
    /// apart (a negative acknowledgement with that delay); a message that fails on its last is terminated: one that fails
    /// every time must not hold a slot of <c>max_ack_pending</c> nor come back for ever. Each failure is counted and said.
    /// </summary>
    private async Task SettleFailedAsync(INatsJSMsg<NatsMemoryOwner<byte>> msg, Exception error, CancellationToken stopping)
    {
        var delivery = msg.Metadata is { } metadata ? metadata.NumDelivered : 1UL;
        if (delivery < MaxFailedDeliveries)
        {
            router.Failed(msg.Subject, error,
                $"not acknowledged and sent again in {FailedRetryDelay.TotalSeconds:0.#} s (delivery {delivery}; terminated if it fails on delivery {MaxFailedDeliveries}), counted in egress_rejected");
            await msg.NakAsync(delay: FailedRetryDelay, cancellationToken: stopping).ConfigureAwait(false);
        }
        else
        {
            router.Failed(msg.Subject, error, $"terminated after {delivery} deliveries (never sent again), counted in egress_rejected");
            await msg.AckTerminateAsync(cancellationToken: stopping).ConfigureAwait(false);
        }
    }

    /// <param name="config">The consumer.</param>
    /// <param name="open">Gets the consumer as it is, or creates it when it is missing.</param>
    /// <param name="any">The shared "any" consumer (its messages go to one connection in turn); false for the instance's own.</param>
    /// <param name="recreator">Recreates the stream when it is found missing.</param>
    /// <param name="stopping">Ends the loop.</param>
    private async Task RunAsync(ConsumerConfig config, Func<CancellationToken, Task<INatsJSConsumer>> open, bool any, StreamRecreator recreator, CancellationToken stopping)
    {
        var serializer = NatsDefaultSerializer<NatsMemoryOwner<byte>>.Default;
        // Short pull requests with a heartbeat: after an outage the client notices the missing heartbeat and
        // pulls again within seconds, instead of after the default 30 s expiry.
        var failures = 0;
        var warned = false;
        while (!stopping.IsCancellationRequested)
        {
            // A consumer deleted while no pull request was out (its stream deleted by an operator) is never said by the
            // server: the client's next pulls find no responder, or nothing, and it pulls again for ever. While the
            // broker answers, either notice ends this consume, and the set-up below says whether the consumer can be
            // (its stream missing: "stream not found", which has the stream recreated).
            string? stalled = null;
            using var consuming = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            var opts = new NatsJSConsumeOpts
            {
                MaxMsgs = maxPending, Expires = TimeSpan.FromSeconds(5), IdleHeartbeat = TimeSpan.FromSeconds(1),
                NotificationHandler = (notification, _cancel) =>
                {
                    if (notification is NatsJSTimeoutNotification or NatsJSNoRespondersNotification && js.Connection.ConnectionState == NatsConnectionState.Open)
                    {
                        stalled = notification is NatsJSTimeoutNotification ? "no messages or heartbeats from the consumer" : "no responder for the consumer's pull requests";
                        try
                        {
                            // Not Cancel: its callbacks would run inside the client's notification.
                            _ = consuming.CancelAsync();
                        }
                        catch (ObjectDisposedException)
                        {
                            // A notice after this consume ended.
                        }
                    }
                    return Task.CompletedTask;
                },
            };
            try
            {
                var consumer = await open(stopping).ConfigureAwait(false);
                failures = 0;
                if (warned)
                {
                    warned = false;
                    logger.LogInformation("egress consumer {Consumer} of stream {Stream} works again", config.Name, stream);
                }
                await foreach (var msg in consumer.ConsumeAsync(serializer, opts, consuming.Token).ConfigureAwait(false))
                {
                    EgressOutcome outcome;
                    try
                    {
                        using (var data = msg.Data)
                            outcome = await router.RouteAsync(msg.Headers, data.Memory, any, msg.Error, stopping).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                    {
                        await SettleFailedAsync(msg, ex, stopping).ConfigureAwait(false);
                        continue;
                    }
                    // Settled on this delivery: written, for a connection that is not there (it never will be: one that has
                    // just closed included, which the stage tells apart from a full buffer), foreign, or rejected. Only an
                    // overflow (the client is there but its buffer was full) is left unacknowledged, to come back after the ack wait.
                    if (outcome != EgressOutcome.Overflow)
                        await msg.AckAsync(cancellationToken: stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The server went away or the consumer was lost: set it up again once NATS answers. A failure that
                // lasts while the broker answers (the stream deleted or changed by an operator) is said once.
                var reason = ex is OperationCanceledException && stalled is { } notice ? notice : ex.Message;
                logger.LogDebug(ex, "egress consumer {Consumer} stopped ({Reason}); resuming", config.Name, reason);
                var answers = js.Connection.ConnectionState == NatsConnectionState.Open;
                // The stream itself is gone (an operator deleted it): recreated, at most one attempt at a time and
                // backing off while the server refuses; this loop retries meanwhile and resumes once it is back.
                if (answers && JetStreamSetup.IsStreamNotFound(ex))
                    _ = recreator.Nudge();
                if (answers && ++failures == FailuresBeforeWarning)
                {
                    warned = true;
                    logger.LogWarning("egress consumer {Consumer} of stream {Stream} keeps failing while the broker answers: {Reason}; egress on {Subject} waits in the stream, retrying every {RetryMs} ms",
                        config.Name, stream, reason, config.FilterSubject, RetryWait.TotalMilliseconds);
                }
                try
                {
                    await Task.Delay(RetryWait, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
