using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Sends one egress NATS message through the stage by its headers: <c>conn.id</c> to that connection,
/// <c>group</c> to the group, <c>target: any</c> to one connection in turn, otherwise (or <c>target: all</c>)
/// to everyone, optionally <c>except</c> one. A connection id of another instance is not ours.
/// </summary>
internal sealed class EgressRouter(TcpServerStage stage, uint instance, GatewayCounters counters, EventOutbox outbox, FieldHeaders fieldHeaders,
    MessageFailureLog failures)
{
    /// <summary>Routes one message.</summary>
    /// <param name="headers">The message's headers, if any.</param>
    /// <param name="payload">What to write, framed by the stage.</param>
    /// <param name="toAny">It came on the <c>.any</c> subject: one connection in turn, whatever its headers say.</param>
    /// <param name="cancellationToken">Ends a wait for room.</param>
    /// <param name="readError">What the NATS client could not read of the message (<c>msg.Error</c>), e.g. a header block that
    /// is not well formed: such a message comes with no headers and no payload, and is rejected rather than sent to all.</param>
    public async ValueTask<EgressOutcome> RouteAsync(NatsHeaders? headers, ReadOnlyMemory<byte> payload, bool toAny, Exception? readError, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref counters.EgressReceived);
        EgressOutcome outcome;
        try
        {
            outcome = readError is not null
                ? Reject("egress message " + Unreadable(readError))
                : await RouteCoreAsync(headers, payload, toAny, cancellationToken).ConfigureAwait(false);
        }
        catch (FramingException ex)
        {
            // A payload the stage's framing cannot carry (larger than its length field or max_frame_bytes) is refused by
            // the stage's encoder: one bad message, not the end of the subscription that carried it (core: every later
            // egress on it was lost) nor, in JetStream mode, a message redelivered for ever.
            outcome = Reject($"egress message of {payload.Length} bytes cannot be framed: {ex.Message}");
        }
        counters.Count(outcome);
        return outcome;
    }

    private async ValueTask<EgressOutcome> RouteCoreAsync(NatsHeaders? headers, ReadOnlyMemory<byte> payload, bool toAny, CancellationToken cancellationToken)
    {
        if (!fieldHeaders.TryRead(headers, out var fields, out var problem))
            return Reject(problem!);
        string? connection = null, group = null, target = null, except = null;
        if (headers is not null)
        {
            headers.TryGetLastValue(NatsHeaderNames.ConnectionId, out connection);
            headers.TryGetLastValue(NatsHeaderNames.Group, out group);
            headers.TryGetLastValue(NatsHeaderNames.Target, out target);
            headers.TryGetLastValue(NatsHeaderNames.Except, out except);
        }
        var exceptId = ConnectionId.None;
        if (!string.IsNullOrEmpty(except) && !ConnectionId.TryParse(except, out exceptId))
            return Reject($"header 'except': '{except}' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)");

        if (toAny)
            target = "any";
        else if (!string.IsNullOrEmpty(connection))
        {
            if (!ConnectionId.TryParse(connection, out var id))
                return Reject($"header 'conn.id': '{connection}' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)");
            if (id.Instance != instance)
                return EgressOutcome.Foreign;
            if (NeverFits(payload.Length) is { } tooLarge)
                return Reject(tooLarge);
            // The stage says what became of it as it hands it over. Asking the gateway's connection tags afterwards (as it
            // did) lied in the moment between a connection leaving the stage and the gateway handling its disconnected
            // event: a message to a client just gone was counted as an overflow, and JetStream sent it again. No look at
            // the tags first either: the stage's own lookup costs the same, and answers for connections the tags lag behind.
            return Of(await stage.SendFromGatewayAsync(EgressMessage.To(id, payload, fields), cancellationToken).ConfigureAwait(false));
        }
        else if (!string.IsNullOrEmpty(group))
        {
            // No group has a white-space name (a join refuses it), and the stage refuses to send to one.
            if (string.IsNullOrWhiteSpace(group))
                return Reject("header 'group': a group name must not be empty or white space");
            if (NeverFits(payload.Length) is { } tooLarge)
                return Reject(tooLarge);
            // Dropped for every member (all full) is an overflow, not "nobody in the group": the stage tells them apart.
            return Of(await stage.SendFromGatewayAsync(EgressMessage.ToGroup(group, payload, fields, exceptId), cancellationToken).ConfigureAwait(false));
        }
        switch (target)
        {
            case null or "" or "all" or "any" when NeverFits(payload.Length) is { } tooLarge:
                return Reject(tooLarge);
            case null or "" or "all":
                return Of(await stage.SendFromGatewayAsync(EgressMessage.ToAll(payload, fields, exceptId), cancellationToken).ConfigureAwait(false));
            case "any":
                // Not ConnectionCount afterwards: connections still in their handshake count there but take nothing, and
                // the last one may have closed meanwhile.
                return Of(await stage.SendFromGatewayAsync(EgressMessage.ToAny(payload, fields), cancellationToken).ConfigureAwait(false));
            default:
                return Reject($"header 'target': '{target}' is not allowed; use all or any (or set conn.id or group)");
        }
    }

    /// <summary>
    /// A message whose <see cref="RouteAsync"/> threw what nothing here anticipates (e.g. a custom framing's encoder that
    /// throws something other than <see cref="FramingException"/>): counted in <c>egress_rejected</c>, reported as an
    /// <c>error</c> event and logged (rate-limited) by the subscription loop that caught it, which then goes on with the
    /// next message: one failing message must not end the loop, and with it the gateway's routing of that subject.
    /// </summary>
    /// <param name="subject">The subject the message came on.</param>
    /// <param name="error">What it failed with.</param>
    /// <param name="fate">What becomes of it (core: lost; JetStream: sent again, or terminated).</param>
    public void Failed(string subject, Exception error, string fate)
    {
        counters.Count(EgressOutcome.Failed);
        outbox.Error(stage.Name, "egress", $"egress message on {subject} failed ({error.GetType().Name}: {error.Message}); it is {fate}");
        failures.Failed("egress message", subject, error, fate);
    }

    /// <summary>
    /// What the client could not read of a message, for an error event or reply: its words cut short (they may quote a
    /// header line of any length, and the error is one NATS message), and what a header block must be.
    /// </summary>
    internal static string Unreadable(Exception error)
    {
        const int Max = 200;
        var words = error.Message.Length <= Max ? error.Message : error.Message[..Max] + "…";
        return $"could not be read ({words}); headers must be a 'NATS/1.0' line and 'Key: value' lines";
    }

    /// <summary>
    /// Why a message can never be written, or null. Under the drop and disconnect policies a frame larger than the whole
    /// egress buffer is dropped however empty the buffer is (under wait it is taken once the buffer is empty). Sent on, it
    /// was counted as an overflow (a slow client that was not slow) or, to everyone, as no target; in JetStream mode the
    /// overflow was left unacknowledged and came back after every ack wait for ever, holding a slot of max_pending_egress.
    /// </summary>
    private string? NeverFits(int payloadLength)
    {
        if (stage.Options.EgressOverflow == EgressOverflowPolicy.Wait)
            return null;
        // Throws FramingException for a payload the framing cannot carry at all: rejected as such by RouteAsync.
        var framed = stage.Options.Framing.Encoder.GetEncodedLength(payloadLength);
        var buffer = stage.Options.EgressBufferBytes;
        return framed <= buffer ? null
            : $"egress message of {payloadLength} bytes ({framed} framed) is larger than the stage's whole egress buffer (egress_buffer: {buffer} bytes): "
              + $"no connection can take it under egress_overflow: {stage.Options.EgressOverflow.ToString().ToLowerInvariant()}; raise egress_buffer, or send smaller messages";
    }

    /// <summary>The stage's outcome in the gateway's counters: a drop by the overflow policy (the client is slow, or was closed as
    /// slow for it) is an overflow; no open connection is no target.</summary>
    private static EgressOutcome Of(SendOutcome outcome) => outcome switch
    {
        SendOutcome.Queued => EgressOutcome.Delivered,
        SendOutcome.Dropped => EgressOutcome.Overflow,
        _ => EgressOutcome.NoTarget,
    };

    private EgressOutcome Reject(string problem)
    {
        outbox.Error(stage.Name, "egress", problem);
        return EgressOutcome.Rejected;
    }
}
