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
internal sealed partial class NatsJsonContext : JsonSerializerContext
{
    private static readonly System.Text.Json.JsonWriterOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// <paramref name="value"/> as UTF-8 JSON with quotes and non-ASCII text written as themselves: the default escaping made
    /// an error's words on the subjects read <c>\u0027nope\u0027 … \u0022command\u0022</c>. These messages go to NATS
    /// subscribers, never into HTML, so only what JSON itself requires is escaped.
    /// </summary>
    public static byte[] Bytes<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, Readable))
            System.Text.Json.JsonSerializer.Serialize(writer, value, info);
        return buffer.WrittenSpan.ToArray();
    }
}
