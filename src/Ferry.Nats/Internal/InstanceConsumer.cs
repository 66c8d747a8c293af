using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Internal;

/// <summary>
/// One of a gateway's own egress consumers (<c>&lt;stage&gt;-&lt;instance&gt;-all</c>, <c>&lt;stage&gt;-&lt;instance&gt;</c>):
/// used as it is when it exists, created when it is missing. Created at start "from now on" (a new gateway takes no old
/// egress); but one found missing on an egress stream that is not the one it was made on (another gateway of the stage
/// recreated the stream after an operator deleted it) is made from the stream's start: what the stream took since its
/// recreation is what this gateway missed, and it was kept for it (<see cref="JetStreamEgress"/>'s hold). It used to be
/// made "from now on" again, so that egress was lost.
/// </summary>
/// <param name="js">The gateway's JetStream context.</param>
/// <param name="stream">The egress stream.</param>
/// <param name="config">The consumer as the gateway creates it at start (deliver policy "new").</param>
internal sealed class InstanceConsumer(NatsJSContext js, string stream, ConsumerConfig config)
{
    // "consumer not found".
    private const int ConsumerNotFound = 10014;

    // One open at a time: the consume's set-up and a recreation may open it at once, and must agree on where it starts.
    private readonly SemaphoreSlim _opening = new(1, 1);
    /// <summary>When the stream this consumer was made on (or first found on) was created; null before the first open.</summary>
    private DateTimeOffset? _madeOn;

    public string Name => config.Name!;

    public ConsumerConfig Config => config;

    /// <summary>
    /// At start: creates the consumer, or updates one of this instance that exists (keeping where it starts), so that it
    /// carries this gateway's <c>max_ack_pending</c>: the stage's other gateways read it (<see cref="SharedAnyConsumer"/>).
    /// </summary>
    public async Task ClaimAsync(CancellationToken cancellationToken)
    {
        var claimed = config;
        try
        {
            var found = await js.GetConsumerAsync(stream, config.Name!, cancellationToken).ConfigureAwait(false);
            claimed = config with { DeliverPolicy = found.Info.Config.DeliverPolicy };
        }
        catch (NatsJSApiException ex) when (ex.Error.ErrCode == ConsumerNotFound)
        {
            // Not there: created below.
        }
        await js.CreateOrUpdateConsumerAsync(stream, claimed, cancellationToken).ConfigureAwait(false);
        _madeOn = await StreamCreatedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The consumer as it is, or created (see the type's summary for where it starts).</summary>
    /// <exception cref="NatsJSApiException">E.g. the stream is missing ("stream not found", which has it recreated).</exception>
    public async Task<INatsJSConsumer> OpenAsync(CancellationToken cancellationToken)
    {
        await _opening.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            try
            {
                var found = await js.GetConsumerAsync(stream, config.Name!, cancellationToken).ConfigureAwait(false);
                _madeOn ??= await StreamCreatedAsync(cancellationToken).ConfigureAwait(false);
                return found;
            }
            catch (NatsJSApiException ex) when (ex.Error.ErrCode == ConsumerNotFound)
            {
                // Missing: created below.
            }
            var created = await StreamCreatedAsync(cancellationToken).ConfigureAwait(false);
            var recreated = _madeOn is { } madeOn && madeOn != created;
            var consumer = await js.CreateOrUpdateConsumerAsync(stream, recreated ? FromStart(config) : config, cancellationToken).ConfigureAwait(false);
            _madeOn = created;
            return consumer;
        }
        finally
        {
            _opening.Release();
        }
    }

    private async Task<DateTimeOffset> StreamCreatedAsync(CancellationToken cancellationToken) =>
        (await js.GetStreamAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false)).Info.Created;

    private static ConsumerConfig FromStart(ConsumerConfig config) => config with { DeliverPolicy = ConsumerConfigDeliverPolicy.All };
}
