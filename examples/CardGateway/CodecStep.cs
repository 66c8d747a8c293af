using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages;

namespace CardGateway;

/// <summary>
/// Seed 003's codec gear: reads the TCP stage's packets from the bus, decodes each as ISO 8583 and
/// either hands it to the <see cref="Authorizer"/> (the reply goes back by connection id on
/// <c>&lt;stage&gt;/egress_packets</c>) or, on a protocol violation, pulls the kill switch: a
/// <see cref="ControlCommand.Close"/> on <c>&lt;stage&gt;/control</c> with reason
/// <c>protocol_violation</c> and the violation's code. It never touches a socket, so it could as
/// well run in another process behind a broker.
/// </summary>
public sealed class CodecStep : IAsyncDisposable
{
    private readonly ISubscription<PacketGroup> _packets;
    private readonly ITopic<EgressMessage> _egress;
    private readonly ITopic<ControlCommand> _control;
    private readonly Authorizer _authorizer;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private long _violations;

    /// <summary>Starts reading <paramref name="stage"/>'s packet groups from <paramref name="bus"/>.</summary>
    public CodecStep(IMessageBus bus, string stage, Authorizer authorizer)
    {
        // A bounded queue: when the codec falls behind, the stage stops reading sockets (backpressure).
        _packets = bus.Topic<PacketGroup>(StageTopics.PacketGroup(stage)).SubscribeQueue(capacity: 256);
        _egress = bus.Topic<EgressMessage>(StageTopics.EgressPackets(stage));
        _control = bus.Topic<ControlCommand>(StageTopics.Control(stage));
        _authorizer = authorizer;
        _run = Task.Run(RunAsync);
    }

    /// <summary>Connections closed for a protocol violation so far.</summary>
    public long Violations => Interlocked.Read(ref _violations);

    private async Task RunAsync()
    {
        try
        {
            while (true)
            {
                // The group stays valid until the next ReadAsync: everything is decoded (copied) before it.
                var group = await _packets.ReadAsync(_stop.Token);
                foreach (var packet in group)
                    await HandleAsync(packet.ConnectionId, packet.Payload.Span);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private ValueTask HandleAsync(ConnectionId connection, ReadOnlySpan<byte> payload)
    {
        if (!IsoCodec.TryDecode(payload, IsoCodec.RequestMtis, out var request, out var violation))
        {
            Interlocked.Increment(ref _violations);
            return _control.PublishAsync(ControlCommand.Close(connection, "protocol_violation", violation!.Code));
        }
        var response = IsoCodec.Encode(_authorizer.Respond(request!));
        return _egress.PublishAsync(EgressMessage.To(connection, response));
    }

    /// <summary>Stops reading and detaches from the bus.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run;
        _packets.Dispose();
        _stop.Dispose();
    }
}
