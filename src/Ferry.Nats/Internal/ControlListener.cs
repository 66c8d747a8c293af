using System.Text.Json;
using Ferry.Connections;
using Ferry.Stages;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// The control subject: seed 003's kill switch <c>{"command":"conn.close","payload":{"conn_id":…,"reason":…,"code":…}}</c>
/// and <c>group.join</c> / <c>group.leave</c> (<c>payload.conn_id</c>, <c>payload.group</c>). Every gateway of the
/// stage hears every command and acts only on its own connections. A request with a reply subject gets
/// <c>{"ok":true}</c> or <c>{"ok":false,"error":…}</c>; a bad command is also an <c>error</c> event. The message is
/// read by <see cref="ControlCommandParser"/> (a pure function, fuzzed), so whatever a peer sends, this listener goes on.
/// </summary>
/// <param name="nats">The gateway's connection.</param>
/// <param name="stage">The stage whose connections the commands name.</param>
/// <param name="instance">This process's connection-id instance: commands for others are theirs.</param>
/// <param name="counters">The gateway's counters.</param>
/// <param name="outbox">Where error events go.</param>
/// <param name="subject">The control subject.</param>
/// <param name="failures">Says commands whose handling threw.</param>
/// <param name="apply">Carries out a parsed command (null: <see cref="Apply"/> on the stage); the tests give one that throws.</param>
internal sealed class ControlListener(NatsConnection nats, TcpServerStage stage, uint instance,
    GatewayCounters counters, EventOutbox outbox, string subject, MessageFailureLog failures, Func<ControlCommand, string?>? apply = null)
{
    private readonly Func<ControlCommand, string?> _apply = apply ?? (command => Apply(stage, command));

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
                    try
                    {
                        await HandleAsync(msg, stopping).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                    {
                        // Whatever one command does, the next is read: this loop is the kill switch's only reader for the
                        // gateway's life (it used to end here, and no later command was carried out until a restart).
                        Interlocked.Increment(ref counters.ControlRejected);
                        var error = $"control command failed in the gateway ({ex.GetType().Name}: {ex.Message}); it may be sent again";
                        outbox.Error(stage.Name, "control", error);
                        failures.Failed("control command", msg.Subject, ex, "not carried out, counted in control_rejected");
                        await ReplyAsync(msg.ReplyTo, error, stopping).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
        }
    }

    private async Task HandleAsync(NatsMsg<byte[]> msg, CancellationToken stopping)
    {
        // A message the client could not read (a header block that is not well formed) comes without its payload.
        var (mine, error) = msg.Error is { } unread
            ? (true, "control message " + EgressRouter.Unreadable(unread))
            : Handle(msg.Data);
        if (!mine)
            return; // another gateway's connection: that gateway answers
        if (error is null)
            Interlocked.Increment(ref counters.ControlApplied);
        else
        {
            Interlocked.Increment(ref counters.ControlRejected);
            outbox.Error(stage.Name, "control", error);
        }
        await ReplyAsync(msg.ReplyTo, error, stopping).ConfigureAwait(false);
    }

    /// <summary>Answers a request (a message with a reply subject); one that cannot be sent is counted, whatever the client threw.</summary>
    private async Task ReplyAsync(string? replyTo, string? error, CancellationToken stopping)
    {
        if (string.IsNullOrEmpty(replyTo))
            return;
        var reply = NatsJsonContext.Bytes(new ControlReplyJson(error is null, error), NatsJsonContext.Default.ControlReplyJson);
        try
        {
            await nats.PublishAsync(replyTo, reply, cancellationToken: stopping).ConfigureAwait(false);
        }
        // The client's own command timeout (a stalled broker) is an OperationCanceledException too: a lost reply, not our stop.
        catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            Interlocked.Increment(ref counters.EventsDropped);
        }
    }

    /// <returns>Whether the command is for this gateway, and what was wrong with it (null when carried out).</returns>
    private (bool Mine, string? Error) Handle(byte[]? data)
    {
        if (ControlCommandParser.Parse(data ?? [], out var error) is not { } command)
            return (true, error);
        if (command.Connection.Instance != instance)
        {
            Interlocked.Increment(ref counters.ControlForeign);
            return (false, null);
        }
        return (true, _apply(command));
    }

    /// <summary>Carries out a parsed command on the stage; what was wrong (null when done). Throws nothing for any parsed command (fuzzed).</summary>
    internal static string? Apply(TcpServerStage stage, ControlCommand command)
    {
        var id = command.Connection;
        return command.Verb switch
        {
            ControlVerb.Close => stage.Close(id, command.Reason, command.Code) ? null : $"conn.close: connection '{id}' is not connected",
            ControlVerb.Join => Join(stage, id, command.Group!),
            _ => stage.LeaveGroup(id, command.Group!) ? null : $"group.leave: connection '{id}' is not in group {ControlCommandParser.Quote(command.Group)}",
        };
    }

    /// <summary>
    /// A join the stage refuses (its <c>max_groups_per_connection</c> reached, a name over its <c>max_group_name_length</c>)
    /// is the requester's mistake: answered with the stage's reason, not reported as a failure of the gateway that
    /// "may be sent again" (it would be refused again).
    /// </summary>
    private static string? Join(TcpServerStage stage, ConnectionId id, string group)
    {
        try
        {
            return stage.JoinGroup(id, group) ? null : $"group.join: connection '{id}' is not connected";
        }
        catch (InvalidOperationException ex)
        {
            return "group.join: " + ex.Message;
        }
        catch (ArgumentException ex)
        {
            // The stage's reason without the " (Parameter 'group')" the exception appends: the requester never named a parameter.
            var suffix = $" (Parameter '{ex.ParamName}')";
            return "group.join: " + (ex.ParamName is not null && ex.Message.EndsWith(suffix, StringComparison.Ordinal) ? ex.Message[..^suffix.Length] : ex.Message);
        }
    }
}
