using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>Prints a stage's events, packets and statistics as the JSON lines documented for <c>ferry serve</c>.</summary>
internal static class StageJsonPrinter
{
    public static void WriteConnections(System.Text.Json.Utf8JsonWriter j, IReadOnlyList<ConnectionInfo> connections)
    {
        j.WriteStartArray();
        foreach (var c in connections)
        {
            j.WriteStartObject();
            j.WriteString("conn", c.Id.ToString());
            j.WriteString("peer", c.Peer.ToString());
            j.WriteString("connected_at", c.ConnectedAt);
            j.WriteString("last_activity", c.LastActivity);
            j.WriteNumber("bytes_in", c.BytesIn);
            j.WriteNumber("packets_in", c.PacketsIn);
            j.WriteNumber("bytes_out", c.BytesOut);
            j.WriteNumber("packets_out", c.PacketsOut);
            j.WriteNumber("egress_queued_bytes", c.EgressBytesQueued);
            j.WriteNumber("egress_dropped_bytes", c.EgressBytesDropped);
            j.WriteNumber("egress_dropped_packets", c.EgressPacketsDropped);
            j.WriteStartArray("groups");
            foreach (var g in c.Groups)
                j.WriteStringValue(g);
            j.WriteEndArray();
            j.WriteEndObject();
        }
        j.WriteEndArray();
    }

    public static void Attach(TcpClientStage stage, JsonLineWriter output, bool printPackets)
    {
        stage.Connecting += (_, e) => output.Write(j =>
        {
            j.WriteString("type", "connecting");
            j.WriteString("remote", e.Remote);
            j.WriteNumber("attempt", e.Attempt);
        });
        stage.ConnectFailed += (_, e) => output.Write(j =>
        {
            j.WriteString("type", "connect_failed");
            j.WriteString("remote", e.Remote);
            j.WriteNumber("attempt", e.Attempt);
            j.WriteString("reason", e.Reason);
            j.WriteNumber("retry_in_ms", Math.Round(e.RetryIn.TotalMilliseconds));
            j.WriteBoolean("giving_up", e.GivingUp);
        });
        var events = new StageEventSource(
            h => stage.Connected += h, h => stage.Disconnected += h, h => stage.Error += h, h => stage.StatsPublished += h, h => stage.Closed += h);
        AttachCommon(events, stage.Bus, stage.Name, stage.Options.Framing, output, printPackets, null);
    }

    /// <summary>The events both stages share, so one printer serves both.</summary>
    private sealed record StageEventSource(
        Action<EventHandler<ConnectedEvent>> Connected,
        Action<EventHandler<DisconnectedEvent>> Disconnected,
        Action<EventHandler<StageErrorEvent>> Error,
        Action<EventHandler<SocketStats>> Stats,
        Action<EventHandler<ClosedEvent>> Closed);

    public static void Attach(TcpServerStage stage, JsonLineWriter output, bool printPackets, bool statsConnections = false)
    {
        stage.Listening += (_, e) => output.Write(j =>
        {
            j.WriteString("type", "listening");
            j.WriteString("local", e.LocalEndPoint.ToString());
        });
        var events = new StageEventSource(
            h => stage.Connected += h, h => stage.Disconnected += h, h => stage.Error += h, h => stage.StatsPublished += h, h => stage.Closed += h);
        AttachCommon(events, stage.Bus, stage.Name, stage.Options.Framing, output, printPackets, statsConnections ? stage.GetConnections : null);
    }

    private static void AttachCommon(StageEventSource stage, Bus.IMessageBus bus, string name, Framing.IFraming framing, JsonLineWriter output,
        bool printPackets, Func<IReadOnlyList<ConnectionInfo>>? connectionsTable)
    {
        stage.Connected((_, e) => output.Write(j =>
        {
            j.WriteString("type", "connected");
            j.WriteString("conn", e.ConnectionId.ToString());
            j.WriteString("peer", e.Peer.ToString());
            if (e.Tls is { } tls)
                TlsJson.Write(j, tls);
        }));
        stage.Disconnected((_, e) => output.Write(j =>
        {
            j.WriteString("type", "disconnected");
            j.WriteString("conn", e.ConnectionId.ToString());
            j.WriteString("peer", e.Peer.ToString());
            j.WriteString("reason", e.ReasonName);
            if (e.Code is not null)
                j.WriteString("code", e.Code);
            if (e.Detail is not null)
                j.WriteString("detail", e.Detail);
        }));
        stage.Error((_, e) => output.Write(j =>
        {
            j.WriteString("type", "error");
            j.WriteString("kind", e.Kind.ToString().ToLowerInvariant());
            j.WriteString("message", e.Message);
            if (!e.ConnectionId.IsNone)
                j.WriteString("conn", e.ConnectionId.ToString());
        }));
        stage.Stats((_, s) => output.Write(j =>
        {
            JsonLineWriter.WriteStats(j, s);
            if (connectionsTable is not null)
            {
                j.WritePropertyName("connections_table");
                WriteConnections(j, connectionsTable());
            }
        }));
        stage.Closed((_, _) => output.Write(j => j.WriteString("type", "closed")));
        if (!printPackets)
            return;
        // Header fields are printed where the framing has them, zero or not.
        var fields = framing.HeaderFields;
        bus.Topic<PacketGroup>(StageTopics.PacketGroup(name)).Subscribe((group, _) =>
        {
            foreach (var packet in group)
            {
                output.Write(j =>
                {
                    j.WriteString("type", "packet");
                    j.WriteString("conn", packet.ConnectionId.ToString());
                    j.WriteString("peer", packet.Peer.ToString());
                    j.WriteNumber("group", group.Sequence);
                    j.WriteNumber("len", packet.Payload.Length);
                    foreach (var field in fields)
                        j.WriteNumber(field.Name, field.Read(packet.Fields));
                    JsonLineWriter.WritePayload(j, packet.Payload.Span);
                }, flush: false);
            }
            output.Flush();
            return default;
        });
    }
}
