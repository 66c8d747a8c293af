using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Internal;

/// <summary>
/// The <c>&lt;stage&gt;-any</c> consumer of the egress stream, shared by every gateway of the stage so that each message on
/// <c>.any</c> goes to one of them ("any one": a consumer per setting would hand each message to one gateway per
/// consumer). Its <c>max_ack_pending</c> comes from <c>max_pending_egress</c>, so gateways of one stage must agree on it.
/// Each gateway used to create-or-update it at start and at every resume: one with another value silently rewrote the
/// others' bound, and after an outage they rewrote it back and forth. Now a gateway whose value differs from the
/// consumer's while another gateway pulls from it fails its start (naming both values and the key); a consumer nobody
/// pulls from (left by gateways that stopped) takes the new value; on resume the consumer is used as it is.
/// That check alone raced: two gateways starting at the same instant both found the consumer missing (or nobody pulling
/// from it), both wrote it, and one silently ran with the other's bound. A JetStream consumer cannot be written only if
/// it is unchanged (nats-server 2.9, Debian 12's, even takes a "create" of an existing consumer as an update). So each
/// gateway first says that it runs, and with which value, where the others look: its own consumer
/// (<c>&lt;stage&gt;-&lt;instance&gt;</c>) carries its <c>max_pending_egress</c> as <c>max_ack_pending</c> and has a pull
/// request waiting before <see cref="ClaimAsync"/> looks; the claim fails if another gateway's own consumer with another
/// value has one too. Of two gateways with different values the one that looks later sees the other's pull (made before
/// the other looked, and kept while it runs), so they never both start; at the same instant both may fail.
/// </summary>
/// <param name="js">The gateway's JetStream context.</param>
/// <param name="stream">The egress stream.</param>
/// <param name="config">The consumer as this gateway would create it.</param>
/// <param name="logger">Where changes and disagreements are said.</param>
/// <param name="subjects">The gateway's egress subjects: what the other gateways' own consumers filter on.</param>
/// <param name="say">Names an option (by its key) in the words of whoever set the gateway's options (<see cref="NatsGatewayOptions.Say"/>):
/// <c>NatsGatewayOptions.MaxPendingEgress</c> to code, <c>bus.max_pending_egress</c> to a run file.</param>
internal sealed class SharedAnyConsumer(NatsJSContext js, string stream, ConsumerConfig config, ILogger logger, EgressSubjects subjects, Func<string, string> say)
{
    /// <summary>The option the consumer's max_ack_pending comes from, as the reader knows it.</summary>
    private readonly string _option = say("max_pending_egress");

    private bool _disagreementSaid;

    /// <summary>
    /// At start, once this gateway pulls from its own consumer: fails if another gateway of the stage runs with another
    /// value (its own consumer has a pull waiting), else creates the consumer, or checks this gateway's value against it
    /// (and updates one nobody uses).
    /// </summary>
    /// <param name="own">This gateway's own consumer, which is not another's.</param>
    /// <param name="cancellationToken">Ends the claim.</param>
    /// <exception cref="InvalidOperationException">Another gateway of the stage runs with another <c>max_pending_egress</c>.</exception>
    public async Task ClaimAsync(string own, CancellationToken cancellationToken)
    {
        // By name, then each one's info: nats-server 2.9 lists a consumer that another gateway is creating at this instant
        // as an entry with no info, on which the client's ListConsumersAsync threw a NullReferenceException, and the start
        // failed with "cannot set up the JetStream consumers". Such a consumer has no pull waiting yet: its gateway looks
        // after this one's pull is waiting, and sees it, so it is passed over here, as one deleted meanwhile is.
        await foreach (var name in js.ListConsumerNamesAsync(stream, cancellationToken).ConfigureAwait(false))
        {
            if (name == own || !IsNamedLikeOwnConsumer(name))
                continue;
            ConsumerInfo other;
            try
            {
                other = (await js.GetConsumerAsync(stream, name, cancellationToken).ConfigureAwait(false)).Info;
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                continue;
            }
            if (other.Config is { } theirs && IsOwnConsumerOfAGateway(name, theirs.FilterSubject)
                && theirs.MaxAckPending != config.MaxAckPending && other.NumWaiting > 0)
                throw Disagreement(theirs.MaxAckPending);
        }
        try
        {
            var info = (await js.GetConsumerAsync(stream, config.Name!, cancellationToken).ConfigureAwait(false)).Info;
            var theirs = info.Config.MaxAckPending;
            if (theirs != config.MaxAckPending)
            {
                // Pull requests waiting on it: a gateway of the stage is running with the consumer's value.
                if (info.NumWaiting > 0)
                    throw Disagreement(theirs);
                logger.LogInformation("egress consumer {Consumer} of stream {Stream}: max_ack_pending {Theirs} becomes {Ours} (this gateway's {Option}); no gateway pulls from it now",
                    config.Name, stream, theirs, config.MaxAckPending, _option);
            }
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Not there yet: created below.
        }
        await js.CreateOrUpdateConsumerAsync(stream, config, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>&lt;stage&gt;-&lt;instance&gt;</c> on <c>&lt;egress subject&gt;.&lt;instance&gt;</c>: a gateway's own consumer.</summary>
    private bool IsOwnConsumerOfAGateway(string name, string? filter) =>
        IsNamedLikeOwnConsumer(name) && filter == subjects.Shared + "." + name[(subjects.Stage.Length + 1)..];

    /// <summary><c>&lt;stage&gt;-&lt;instance&gt;</c>, an instance being 8 hex digits: the name a gateway's own consumer has.</summary>
    private bool IsNamedLikeOwnConsumer(string name) =>
        name.StartsWith(subjects.Stage + "-", StringComparison.Ordinal) && name.Length == subjects.Stage.Length + 9;

    private InvalidOperationException Disagreement(long theirs) => new(
        $"{_option} is {config.MaxAckPending}, but the egress consumer '{config.Name}' of stream '{stream}', shared by every gateway of the stage "
        + $"for '.any' egress, has max_ack_pending {theirs} from the {_option} of another gateway of the stage that is running now; "
        + $"give every gateway of the stage the same {_option} (to change it, stop them all, then start them with the new value)");

    /// <summary>On every (re)start of the consume: the consumer as it is, created only when it is missing.</summary>
    public async Task<INatsJSConsumer> OpenAsync(CancellationToken cancellationToken)
    {
        INatsJSConsumer consumer;
        try
        {
            consumer = await js.GetConsumerAsync(stream, config.Name!, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            return await js.CreateOrUpdateConsumerAsync(stream, config, cancellationToken).ConfigureAwait(false);
        }
        var theirs = consumer.Info.Config.MaxAckPending;
        if (theirs != config.MaxAckPending && !_disagreementSaid)
        {
            // Another gateway took it over while this one did not pull (an outage): not rewritten back, which would start a tug of war.
            _disagreementSaid = true;
            logger.LogWarning("egress consumer {Consumer} of stream {Stream} has max_ack_pending {Theirs}, not this gateway's {Option} {Ours}: another gateway of the stage set it; used as it is (give every gateway of the stage the same {Option})",
                config.Name, stream, theirs, _option, config.MaxAckPending, _option);
        }
        return consumer;
    }
}
