using System.Text;
using System.Text.Json;
using Ferry.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace NatsWorker;

/// <summary>
/// A pipeline worker behind one or more Ferry gateways: takes every packet of a stage from NATS, answers the
/// connection it came from with the packet uppercased, and closes (kill switch) a connection that sends the
/// forbidden word. Replies go to the subject of the gateway holding the connection, so with several gateways
/// none sees another's replies.
/// </summary>
public sealed class UppercaseWorker(INatsConnection nats, string stage, string prefix = "ferry", string forbidden = "forbidden")
{
    private readonly byte[] _forbidden = Encoding.UTF8.GetBytes(forbidden);

    public string IngressSubject => $"{prefix}.{stage}.in";

    public string EgressSubject => $"{prefix}.{stage}.out";

    public string ControlSubject => $"{prefix}.ctrl.{stage}";

    /// <summary>Packets answered and connections killed so far.</summary>
    public long Replied, Killed;

    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the worker's subscription (core) or consumer (JetStream) is in place.</summary>
    public Task Subscribed => _subscribed.Task;

    /// <summary>Core NATS: a queue subscription, so several workers share the packets.</summary>
    public async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        await using var sub = await nats.SubscribeCoreAsync<byte[]>(IngressSubject, queueGroup: "workers", cancellationToken: cancellationToken);
        await nats.PingAsync(cancellationToken); // the server has the subscription once it answered a ping sent after it
        _subscribed.TrySetResult();
        await foreach (var msg in sub.Msgs.ReadAllAsync(cancellationToken))
            await HandleAsync(msg.Headers, msg.Data ?? [], cancellationToken);
    }

    /// <summary>JetStream: the durable consumer <c>workers</c> of the gateway's ingress stream; a packet is acknowledged once answered.</summary>
    public async Task RunJetStreamAsync(CancellationToken cancellationToken)
    {
        var js = new NatsJSContext((NatsConnection)nats);
        INatsJSConsumer consumer;
        while (true)
        {
            try
            {
                consumer = await js.CreateOrUpdateConsumerAsync($"{prefix}_{stage}_in",
                    new ConsumerConfig("workers") { AckPolicy = ConsumerConfigAckPolicy.Explicit }, cancellationToken);
                break;
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                // The first gateway creates the stream: wait for it.
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        _subscribed.TrySetResult(); // the durable consumer keeps what arrives from now on
        await foreach (var msg in consumer.ConsumeAsync<byte[]>(cancellationToken: cancellationToken))
        {
            await HandleAsync(msg.Headers, msg.Data ?? [], cancellationToken);
            await msg.AckAsync(cancellationToken: cancellationToken);
        }
    }

    private async ValueTask HandleAsync(NatsHeaders? headers, byte[] payload, CancellationToken cancellationToken)
    {
        if (headers is null || !headers.TryGetLastValue(NatsHeaderNames.ConnectionId, out var conn))
            return; // not a Ferry packet
        if (payload.AsSpan().IndexOf(_forbidden) >= 0)
        {
            var command = JsonSerializer.SerializeToUtf8Bytes(new KillCommand("conn.close", new KillPayload(conn, "forbidden_word", "FORBIDDEN")),
                WorkerJson.Default.KillCommand);
            await nats.PublishAsync(ControlSubject, command, cancellationToken: cancellationToken);
            Interlocked.Increment(ref Killed);
            return;
        }
        var reply = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload).ToUpperInvariant());
        await nats.PublishAsync(NatsEgressSubjects.ForConnection(EgressSubject, conn), reply,
            new NatsHeaders { [NatsHeaderNames.ConnectionId] = conn }, cancellationToken: cancellationToken);
        Interlocked.Increment(ref Replied);
    }
}
