using System.Text.Json;
using Ferry.Connections;
using Ferry.Stages;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// The control subject: seed 003's kill switch <c>{"command":"conn.close","payload":{"conn_id":…,"reason":…,"code":…}}</c>
/// and <c>group.join</c> / <c>group.leave</c> (<c>payload.conn_id</c>, <c>payload.group</c>). Every gateway of the
/// stage hears every command and acts only on its own connections. A request with a reply subject gets
/// <c>{"ok":true}</c> or <c>{"ok":false,"error":…}</c>; a bad command is also an <c>error</c> event.
/// </summary>
internal sealed class ControlListener(NatsConnection nats, TcpServerStage stage, uint instance,
    GatewayCounters counters, EventOutbox outbox, string subject)
{
    public async Task<Task> StartAsync(CancellationToken stopping)
    {
        var sub = await nats.SubscribeCoreAsync(subject, serializer: NatsDefaultSerializer<byte[]>.Default, cancellationToken: stopping).ConfigureAwait(false);
        return RunAsync(sub, stopping);
    }

    private async Task RunAsync(INatsSub<byte[]> sub, CancellationToken stopping)
    {
        await using (sub.ConfigureAwait(false))
        {
            try
            {
                await foreach (var msg in sub.Msgs.ReadAllAsync(stopping).ConfigureAwait(false))
                {
                    var (apply, error) = Handle(msg.Data);
                    if (!apply)
                        continue; // another gateway's connection: that gateway answers
                    if (error is null)
                        Interlocked.Increment(ref counters.ControlApplied);
                    else
                    {
                        Interlocked.Increment(ref counters.ControlRejected);
                        outbox.Error(stage.Name, "control", error);
                    }
                    if (!string.IsNullOrEmpty(msg.ReplyTo))
                    {
                        var reply = JsonSerializer.SerializeToUtf8Bytes(new ControlReplyJson(error is null, error), NatsJsonContext.Default.ControlReplyJson);
                        try
                        {
                            await nats.PublishAsync(msg.ReplyTo, reply, cancellationToken: stopping).ConfigureAwait(false);
                        }
                        catch (Exception ex) when (ex is not OperationCanceledException)
                        {
                            Interlocked.Increment(ref counters.EventsDropped);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
        }
    }

    /// <returns>Whether the command is for this gateway, and what was wrong with it (null when carried out).</returns>
    private (bool Mine, string? Error) Handle(byte[]? data)
    {
        ControlJson? command;
        try
        {
            command = JsonSerializer.Deserialize(data ?? [], NatsJsonContext.Default.ControlJson);
        }
        catch (JsonException ex)
        {
            return (true, $"control message is not JSON ({ex.Message}); expected {{\"command\":\"conn.close\",\"payload\":{{\"conn_id\":\"…\"}}}}");
        }
        var payload = command?.Payload;
        var text = payload?.ConnId;
        if (command?.Command is not ("conn.close" or "group.join" or "group.leave"))
            return (true, $"control command '{command?.Command}' is not allowed; use conn.close, group.join or group.leave");
        if (string.IsNullOrEmpty(text) || !ConnectionId.TryParse(text, out var id))
            return (true, $"{command.Command}: payload.conn_id '{text}' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)");
        if (id.Instance != instance)
        {
            Interlocked.Increment(ref counters.ControlForeign);
            return (false, null);
        }
        if (command.Command == "conn.close")
            return stage.Close(id, payload!.Reason, payload.Code)
                ? (true, null) : (true, $"conn.close: connection '{text}' is not connected");
        var group = payload!.Group;
        // White space is no group name either: the stage would throw for it, and an exception here would end this listener.
        if (string.IsNullOrWhiteSpace(group))
            return (true, $"{command.Command}: payload.group is missing or blank; name the group");
        if (command.Command == "group.join")
            return stage.JoinGroup(id, group) ? (true, null) : (true, $"group.join: connection '{text}' is not connected");
        return stage.LeaveGroup(id, group) ? (true, null) : (true, $"group.leave: connection '{text}' is not in group '{group}'");
    }
}
