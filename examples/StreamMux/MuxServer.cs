using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace StreamMux;

/// <summary>Where the multiplexing server listens.</summary>
public sealed record MuxServerOptions
{
    /// <summary>Listen address, <c>host:port</c>.</summary>
    public string Bind { get; init; } = "127.0.0.1:9400";

    /// <summary>Largest frame payload.</summary>
    public int MaxFrameBytes { get; init; } = 256 * 1024;
}

/// <summary>
/// The wiring: a stage with Ferry's built-in <c>mux</c> framing (stream id u32, length u32, payload:
/// seed 002's layout, the stream id in <c>FrameFields.StreamId</c>), one <see cref="MuxSession"/> per
/// connection (made on <c>connected</c>, dropped on <c>disconnected</c>), replies sent with the stream id in their frame fields.
/// </summary>
/// <remarks>
/// Sessions live in a plain dictionary: the packet handler and the event handler are inline, so both
/// run on the stage's service thread, one at a time.
/// </remarks>
public sealed class MuxServer : IAsyncDisposable
{
    private readonly Dictionary<ConnectionId, MuxSession> _sessions = [];
    private readonly List<IDisposable> _subscriptions = [];

    private MuxServer(TcpServerStage stage) => Stage = stage;

    /// <summary>The stage.</summary>
    public TcpServerStage Stage { get; }

    /// <summary>The address it listens on.</summary>
    public IPEndPoint LocalEndPoint => Stage.LocalEndPoint!;

    /// <summary>Starts listening; completes once bound.</summary>
    public static async Task<MuxServer> StartAsync(MuxServerOptions options, CancellationToken cancellationToken = default)
    {
        var bus = new InProcessBus();
        var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = "mux",
            Bind = options.Bind,
            Framing = new MuxFraming(options.MaxFrameBytes),
            BindAttempts = 1,
        }, bus);
        var server = new MuxServer(stage);
        server._subscriptions.Add(bus.Topic<PacketGroup>(StageTopics.PacketGroup(stage.Name)).Subscribe(server.OnPacketsAsync));
        server._subscriptions.Add(bus.Topic<StageEvent>(StageTopics.Events(stage.Name)).Subscribe((stageEvent, _) =>
        {
            if (stageEvent is ConnectedEvent connected)
                server._sessions[connected.ConnectionId] = new MuxSession();
            else if (stageEvent is DisconnectedEvent closed && server._sessions.Remove(closed.ConnectionId, out var session))
                session.Dispose();
            return ValueTask.CompletedTask;
        }));
        return await Ferry.Examples.Shutdown.StartedAsync(server, () => stage.StartAsync(cancellationToken));
    }

    private async ValueTask OnPacketsAsync(PacketGroup group, CancellationToken cancellationToken)
    {
        foreach (var packet in group)
        {
            if (!_sessions.TryGetValue(packet.ConnectionId, out var session))
                continue;   // its connection has already closed
            foreach (var reply in session.OnFrame(packet.Fields.StreamId, packet.Payload.Span))
                await Stage.SendAsync(packet.ConnectionId, reply.Payload, new FrameFields(StreamId: reply.Stream), cancellationToken);
        }
    }

    /// <summary>Stops the stage and the subscriptions.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stage.DisposeAsync();
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
        foreach (var session in _sessions.Values)
            session.Dispose();
    }
}
