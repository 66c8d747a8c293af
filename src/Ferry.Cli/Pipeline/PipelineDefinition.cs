using Ferry.Bus;
using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>A validated pipeline file: its stages, bus, routes and telemetry. Nothing in it has started.</summary>
internal sealed record PipelineDefinition(
    string File,
    IReadOnlyList<StageDeclaration> Stages,
    BusDefinition Bus,
    IReadOnlyList<RouteDefinition> Routes,
    TelemetryDefinition Telemetry);

/// <summary>
/// The bus: its type, how to create the bus between the file's stages once validation has passed, and for
/// <c>nats</c> the gateway options every server stage is connected to NATS with.
/// </summary>
internal sealed record BusDefinition(string Type, Func<IMessageBus> Create, Ferry.Nats.NatsGatewayOptions? Nats = null);

/// <summary>Where a route delivers each message in a server stage: any one connection in turn, all of them, or the connection the message answers.</summary>
internal enum RouteTarget
{
    Any,
    All,
    Reply,
}

/// <summary>Packets of <see cref="From"/> become egress of <see cref="To"/>.</summary>
internal sealed record RouteDefinition(string From, string To, RouteTarget Target, string Where);

/// <summary>Metrics export: a Prometheus scrape endpoint and/or OTLP, and the interval of the OTLP push.</summary>
internal sealed record TelemetryDefinition(string? PrometheusListen, Uri? OtlpEndpoint, string OtlpProtocol, TimeSpan ExportInterval)
{
    public static readonly TelemetryDefinition None = new(null, null, "grpc", TimeSpan.FromSeconds(10));
}
