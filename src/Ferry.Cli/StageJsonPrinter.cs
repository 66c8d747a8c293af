using Ferry.Bus;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>Prints a stage's events, packets and statistics as the JSON lines documented for <c>ferry serve</c>.</summary>
internal static class StageJsonPrinter
{
    public static IReadOnlyList<ConnectionLine> Connections(IReadOnlyList<ConnectionInfo> connections)
    {
        var rows = new List<ConnectionLine>(connections.Count);
        foreach (var c in connections)
            rows.Add(new ConnectionLine(c.Id.ToString(), c.Peer.ToString(), c.ConnectedAt, c.LastActivity, c.BytesIn, c.PacketsIn, c.BytesOut,
                c.PacketsOut, c.EgressBytesQueued, c.EgressBytesDropped, c.EgressPacketsDropped, [.. c.Groups], c.Via?.ToString()));
        return rows;
    }

    /// <summary>Prints the stage's lines; <c>tag</c> (the stage name) goes on every line when several stages share stdout (<c>ferry run</c>).</summary>
    public static void Attach(TcpClientStage stage, JsonLineWriter output, bool printPackets, string? tag = null)
    {
        stage.Core.Events.ReportSlowHandlers = false; // the handlers are these printers (EventSink.ReportSlowHandlers)
        stage.Connecting += (_, e) => output.Write(new ConnectingLine(e.Remote, e.Attempt) { Stage = tag }, CliJsonContext.Default.ConnectingLine);
        stage.ConnectFailed += (_, e) => output.Write(
            new ConnectFailedLine(e.Remote, e.Attempt, e.Reason, Math.Round(e.RetryIn.TotalMilliseconds), e.GivingUp) { Stage = tag },
            CliJsonContext.Default.ConnectFailedLine);
        var events = new StageEventSource(
            h => stage.Connected += h, h => stage.Disconnected += h, h => stage.Error += h, h => stage.StatsPublished += h, h => stage.Closed += h);
        AttachCommon(events, stage.Bus, stage.Name, stage.Options.Framing, output, printPackets, null, tag);
    }

    /// <summary>The events both stages share, so one printer serves both.</summary>
    private sealed record StageEventSource(
        Action<EventHandler<ConnectedEvent>> Connected,
        Action<EventHandler<DisconnectedEvent>> Disconnected,
        Action<EventHandler<StageErrorEvent>> Error,
        Action<EventHandler<SocketStats>> Stats,
        Action<EventHandler<ClosedEvent>> Closed);

    /// <summary>Prints the stage's lines; <c>tag</c> (the stage name) goes on every line when several stages share stdout (<c>ferry run</c>).</summary>
    public static void Attach(TcpServerStage stage, JsonLineWriter output, bool printPackets, bool statsConnections = false, string? tag = null)
    {
        stage.Core.Events.ReportSlowHandlers = false; // the handlers are these printers (EventSink.ReportSlowHandlers)
        stage.Listening += (_, e) => output.Write(new ListeningLine(e.LocalEndPoint.ToString()) { Stage = tag }, CliJsonContext.Default.ListeningLine);
        var events = new StageEventSource(
            h => stage.Connected += h, h => stage.Disconnected += h, h => stage.Error += h, h => stage.StatsPublished += h, h => stage.Closed += h);
        AttachCommon(events, stage.Bus, stage.Name, stage.Options.Framing, output, printPackets, statsConnections ? stage.GetConnections : null, tag);
    }

    private static void AttachCommon(StageEventSource stage, Bus.IMessageBus bus, string name, Framing.IFraming framing, JsonLineWriter output,
        bool printPackets, Func<IReadOnlyList<ConnectionInfo>>? connectionsTable, string? tag)
    {
        var lines = CliJsonContext.Default;
        stage.Connected((_, e) => output.Write(new ConnectedLine(e.ConnectionId.ToString(), e.Peer.ToString(), e.Via?.ToString(), TlsLine.From(e.Tls)) { Stage = tag }, lines.ConnectedLine));
        stage.Disconnected((_, e) => output.Write(
            new DisconnectedLine(e.ConnectionId.ToString(), e.Peer.ToString(), e.ReasonName, e.Code, e.Detail) { Stage = tag }, lines.DisconnectedLine));
        stage.Error((_, e) => output.Write(
            new ErrorLine(e.Kind.ToString().ToLowerInvariant(), e.Message, e.ConnectionId.IsNone ? null : e.ConnectionId.ToString(), null) { Stage = tag },
            lines.ErrorLine));
        stage.Stats((_, s) => output.Write(
            JsonLineWriter.Stats(s, connectionsTable is null ? null : Connections(connectionsTable())) with { Stage = tag }, lines.StatsLine));
        stage.Closed((_, _) => output.Write(new ClosedLine { Stage = tag }, lines.ClosedLine));
        if (!printPackets)
            return;
        // Header fields are printed where the framing has them, zero or not.
        var fields = framing.HeaderFields;
        DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(name)).Subscribe((group, _) =>
        {
            foreach (var packet in group)
            {
                output.Write(j =>
                {
                    j.WriteString("type", "packet");
                    if (tag is not null)
                        j.WriteString("stage", tag);
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
