using System.Net;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;

namespace CardGateway;

/// <summary>Where the gateway listens and what it approves.</summary>
public sealed record GatewayOptions
{
    /// <summary>Listen address, <c>host:port</c>.</summary>
    public string Bind { get; init; } = "127.0.0.1:9300";

    /// <summary>Amounts (field 4, minor units) above this are declined with <c>51</c>.</summary>
    public long LimitMinorUnits { get; init; } = 100_000;

    /// <summary>Largest message, in bytes, without its 2-byte length.</summary>
    public int MaxMessageBytes { get; init; } = 2048;

    /// <summary>A terminal that sends nothing for this long is disconnected.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// The wiring, in seed 003's shape: a TCP stage (<c>io_tcp</c>) with the <c>u16be</c> framing (the
/// 2-byte big-endian length of ISO 8583 over TCP) publishes packets on the bus, and the
/// <see cref="CodecStep"/> answers or kills through the bus.
/// </summary>
public sealed class Gateway : IAsyncDisposable
{
    private readonly CodecStep _codec;

    private Gateway(TcpServerStage stage, CodecStep codec)
    {
        Stage = stage;
        _codec = codec;
    }

    /// <summary>The TCP stage (events, statistics, connections).</summary>
    public TcpServerStage Stage { get; }

    /// <summary>The address it listens on.</summary>
    public IPEndPoint LocalEndPoint => Stage.LocalEndPoint!;

    /// <summary>Connections the codec closed for a protocol violation.</summary>
    public long Violations => _codec.Violations;

    /// <summary>Starts the stage and the codec step; completes once bound.</summary>
    public static async Task<Gateway> StartAsync(GatewayOptions options, CancellationToken cancellationToken = default)
    {
        var bus = new InProcessBus();
        var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = "gateway",
            Bind = options.Bind,
            Framing = FramingSpec.Parse($"u16be,max_frame_bytes={options.MaxMessageBytes}"),
            IdleTimeout = options.IdleTimeout,
            BindAttempts = 1,
        }, bus);
        var gateway = new Gateway(stage, new CodecStep(bus, stage.Name, new Authorizer(options.LimitMinorUnits)));
        return await Ferry.Examples.Shutdown.StartedAsync(gateway, () => stage.StartAsync(cancellationToken));
    }

    /// <summary>Stops the stage, then the codec.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stage.DisposeAsync();
        await _codec.DisposeAsync();
    }
}
