using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace FileTransfer;

/// <summary>Where the file server listens and stores.</summary>
public sealed record FileServerOptions
{
    /// <summary>Listen address, <c>host:port</c>.</summary>
    public string Bind { get; init; } = "127.0.0.1:9200";

    /// <summary>Where finished files (and <c>&lt;transfer id&gt;.part</c> files) go; created if missing.</summary>
    public string Directory { get; init; } = "uploads";

    /// <summary>Largest file accepted.</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;

    /// <summary>A <c>file_progress</c> message every this many chunks (seed 002: 100).</summary>
    public int ProgressEvery { get; init; } = 100;
}

/// <summary>
/// The wiring: a stage with the <c>text-length</c> framing whose packets are read from a bounded bus
/// queue by one task, which runs the <see cref="FileReceiver"/> and sends its replies to the
/// connection that asked.
/// </summary>
/// <remarks>
/// Why a queue and not an inline handler: the receiver writes files, and an inline handler runs on
/// the stage's service thread, where a slow disk would stall every connection. With the queue, a slow
/// disk fills the queue and the stage stops reading sockets (TCP backpressure) instead.
/// </remarks>
public sealed class FileTransferServer : IAsyncDisposable
{
    private readonly ISubscription<PacketGroup> _packets;
    private readonly FileReceiver _receiver;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;

    private FileTransferServer(TcpServerStage stage, FileReceiver receiver)
    {
        Stage = stage;
        _receiver = receiver;
        _packets = stage.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(stage.Name)).SubscribeQueue(capacity: 64);
    }

    /// <summary>The stage.</summary>
    public TcpServerStage Stage { get; }

    /// <summary>The address it listens on.</summary>
    public IPEndPoint LocalEndPoint => Stage.LocalEndPoint!;

    /// <summary>After each stored chunk: the connection it came on, the transfer, and the bytes stored so far (on the receiver's task).</summary>
    public event Action<ConnectionId, string, long>? ChunkStored;

    /// <summary>Starts listening; completes once bound.</summary>
    public static async Task<FileTransferServer> StartAsync(FileServerOptions options, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.Directory);
        var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = "files",
            Bind = options.Bind,
            // A 256 KiB chunk is about 350 KiB of base64 JSON.
            Framing = FramingSpec.Parse("text-length,max_frame_bytes=524288"),
            BindAttempts = 1,
        }, new InProcessBus());
        var server = new FileTransferServer(stage, new FileReceiver(options.Directory, options.MaxFileBytes, options.ProgressEvery, TimeProvider.System));
        server._run = Task.Run(server.RunAsync);
        return await Ferry.Examples.Shutdown.StartedAsync(server, () => stage.StartAsync(cancellationToken));
    }

    private async Task RunAsync()
    {
        try
        {
            while (true)
            {
                var group = await _packets.ReadAsync(_stop.Token);
                foreach (var packet in group)
                {
                    // Handle parses and stores the payload before returning: nothing of it is kept.
                    var outcome = _receiver.Handle(packet.Payload.Span);
                    foreach (var reply in outcome.Replies)
                        await Stage.SendAsync(packet.ConnectionId, reply);
                    if (outcome.ReceivedBytes > 0 && outcome.TransferId is { } id)
                        ChunkStored?.Invoke(packet.ConnectionId, id, outcome.ReceivedBytes);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops the stage, then the receiver's task.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stage.DisposeAsync();
        await _stop.CancelAsync();
        await _run;
        _packets.Dispose();
        _stop.Dispose();
    }
}
