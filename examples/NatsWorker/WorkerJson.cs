using System.Text.Json.Serialization;

namespace NatsWorker;

/// <summary>Seed 003's kill switch: <c>{"command":"conn.close","payload":{"conn_id":…,"reason":…,"code":…}}</c>.</summary>
public sealed record KillCommand(string Command, KillPayload Payload);

public sealed record KillPayload(string ConnId, string Reason, string Code);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(KillCommand))]
internal sealed partial class WorkerJson : JsonSerializerContext;
