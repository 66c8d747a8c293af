using System.Text.Json.Serialization;
using Ferry.Stages;

namespace Ferry.Nats.Internal;

/// <summary>A stage event on the events subject: one flat object, absent members left out.</summary>
internal sealed record EventJson(string Type, string Stage, DateTimeOffset Time)
{
    public string? Instance { get; init; }
    public string? Conn { get; init; }
    public string? Peer { get; init; }
    public string? Local { get; init; }
    public string? Reason { get; init; }
    public string? Detail { get; init; }
    public string? Code { get; init; }
    public string? Kind { get; init; }
    public string? Message { get; init; }
    public string? Group { get; init; }
}

/// <summary>The stats subject's message: the stage's socket stats and the gateway's counters.</summary>
internal sealed record StatsJson(string Type, string Stage, string Instance, SocketStats Socket, NatsGatewayCounters Nats);

/// <summary>The answer to a control request that has a reply subject.</summary>
internal sealed record ControlReplyJson(bool Ok, string? Error);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UseStringEnumConverter = true)]
[JsonSerializable(typeof(EventJson))]
[JsonSerializable(typeof(StatsJson))]
[JsonSerializable(typeof(ControlReplyJson))]
internal sealed partial class NatsJsonContext : JsonSerializerContext;
