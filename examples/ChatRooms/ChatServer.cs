using System.Net;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;

namespace ChatRooms;

/// <summary>Where and how the chat server listens.</summary>
public sealed record ChatServerOptions
{
    /// <summary>Listen address, <c>host:port</c>.</summary>
    public string Bind { get; init; } = "127.0.0.1:9100";

    /// <summary>Simultaneous clients.</summary>
    public int MaxConnections { get; init; } = 1000;

    /// <summary>The clock for message timestamps and the stage's timers.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The transport wiring: a <see cref="TcpServerStage"/> with seed 002's <c>text-length</c> framing
/// (<c>"123\n"</c> then the JSON), whose packets and events feed a <see cref="ChatProtocol"/>.
/// </summary>
/// <remarks>
/// Both subscriptions are inline handlers, so they run on the stage's service thread one at a time:
/// the protocol needs no locks. They never really wait: the stage's egress policy is
/// <see cref="EgressOverflowPolicy.Drop"/> (a client that does not read loses messages, the others go
/// on), under which every send completes at once. A handler that awaited something slow would
/// stall every connection of the stage.
/// </remarks>
public sealed class ChatServer : IAsyncDisposable
{
    private readonly List<IDisposable> _subscriptions = [];

    private ChatServer(TcpServerStage stage) => Stage = stage;

    /// <summary>The stage, for its statistics, events and connection registry.</summary>
    public TcpServerStage Stage { get; }

    /// <summary>The address it listens on.</summary>
    public IPEndPoint LocalEndPoint => Stage.LocalEndPoint!;

    /// <summary>Starts listening; completes once bound.</summary>
    public static async Task<ChatServer> StartAsync(ChatServerOptions options, CancellationToken cancellationToken = default)
    {
        var bus = new InProcessBus();
        var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = "chat",
            Bind = options.Bind,
            MaxConnections = options.MaxConnections,
            Framing = FramingSpec.Parse("text-length,max_frame_bytes=65536"),
            GroupNotices = true,
            EgressOverflow = EgressOverflowPolicy.Drop,
            BindAttempts = 1,
        }, bus, timeProvider: options.Time);
        var server = new ChatServer(stage);
        var protocol = new ChatProtocol(new StageChatOutbox(stage), options.Time);

        server._subscriptions.Add(bus.Topic<PacketGroup>(StageTopics.PacketGroup(stage.Name)).Subscribe(async (group, _) =>
        {
            foreach (var packet in group)
            {
                // Parse while the payload is valid; the request keeps copies of what it needs.
                if (ChatRequest.TryParse(packet.Payload.Span, out var request, out var error))
                    await protocol.OnMessageAsync(packet.ConnectionId, request!);
                else
                    await protocol.OnBadMessageAsync(packet.ConnectionId, error!);
            }
        }));
        server._subscriptions.Add(bus.Topic<StageEvent>(StageTopics.Events(stage.Name)).Subscribe(async (stageEvent, _) =>
        {
            switch (stageEvent)
            {
                case ConnectedEvent connected:
                    await protocol.OnConnectedAsync(connected.ConnectionId);
                    break;
                // Sent for leave_room and for every room of a client that disconnected (group notices);
                // by then it is out of the room, so only the others hear it.
                case GroupMembershipEvent { Joined: false } left:
                    await protocol.OnLeftRoomAsync(left.ConnectionId, left.Group);
                    break;
            }
        }));

        return await Ferry.Examples.Shutdown.StartedAsync(server, () => stage.StartAsync(cancellationToken));
    }

    /// <summary>Stops the stage and the subscriptions.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stage.DisposeAsync();
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
    }
}
