using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Ferry.Nats.Internal;

/// <summary>
/// JetStream ingress, at least once. Each message is copied and published without waiting for its
/// acknowledgement, up to <c>max_in_flight</c> at once; when the window is full the stage's publish waits
/// for a slot, so the stage stops reading sockets. A publish not acknowledged within <c>ack_timeout</c>
/// (an outage, a restart) is sent again with the same <c>Nats-Msg-Id</c>, so the stream drops the
/// duplicates it still remembers; retries go on until the gateway is disposed. A message that can never be
/// stored (larger than the server's <c>max_payload</c> or the stream's maximum message size) is not retried:
/// it is dropped, counted and logged, so it cannot hold a slot of the window for ever.
/// </summary>
internal sealed class JetStreamIngressPublisher : IngressPublisher
{
    private const string MsgIdHeader = "Nats-Msg-Id";
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);
    private readonly NatsJSContext _js;
    private readonly string _stream;
    /// <summary>The option that names the stream, as the reader of the gateway's options knows it (<see cref="NatsGatewayOptions.Say"/>).</summary>
    private readonly string _streamOption;
    private readonly SemaphoreSlim _window;
    private readonly int _windowSize;
    private readonly TimeSpan _ackTimeout;
    private readonly string _idPrefix;
    private readonly CancellationToken _stopping;
    private readonly StreamRecreator _recreator;
    private long _sequence;
    /// <summary>Packets whose publish was still unacknowledged when the gateway stopped.</summary>
    private long _abandoned;
    private long _neverSent;
    /// <summary>1 while publishes go unacknowledged: the outage is logged when it starts and when it ends, not per retry.</summary>
    private int _failing;

    public JetStreamIngressPublisher(NatsJSContext js, string stream, string subject, ConnectionTags tags, FieldHeaders fields, NatsIngressLayout layout,
        GatewayCounters counters, int maxInFlight, TimeSpan ackTimeout, string instance, CancellationToken stopping, ILogger logger, StreamRecreator recreator,
        string streamOption)
        : base(subject, tags, fields, layout, counters, logger)
    {
        _streamOption = streamOption;
        _recreator = recreator;
        _js = js;
        _stream = stream;
        _window = new SemaphoreSlim(maxInFlight, maxInFlight);
        _windowSize = maxInFlight;
        _ackTimeout = ackTimeout;
        // Unique per gateway start: the process instance plus the start time, so a restarted gateway's
        // ids never match those the stream remembers from before.
        _idPrefix = instance + "-" + DateTime.UtcNow.Ticks.ToString("x", CultureInfo.InvariantCulture) + "-";
        _stopping = stopping;
    }

    // Each message keeps its headers until acknowledged (a retry sends them again): a new set every time.
    protected override NatsHeaders HeadersForNextMessage() => new();

    protected override async ValueTask SendAsync(NatsHeaders headers, ReadOnlyMemory<byte> payload, int packets, CancellationToken cancellationToken)
    {
        var copy = ArrayPool<byte>.Shared.Rent(Math.Max(payload.Length, 1));
        payload.CopyTo(copy);
        if (!_window.Wait(0))
        {
            // The window is full: the stage's service thread waits here, reading no socket, until an
            // acknowledgement frees a slot, the stage is forced to stop, or the gateway is disposed.
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping);
            try
            {
                await _window.WaitAsync(either.Token).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(copy);
                Interlocked.Add(ref Counters.IngressDropped, packets);
                // Never published: said at the stop with those in flight, or they were in ingress_dropped and nowhere else.
                Interlocked.Add(ref _neverSent, packets);
                throw;
            }
        }
        Interlocked.Increment(ref Counters.IngressInFlight);
        var id = _idPrefix + (++_sequence).ToString(CultureInfo.InvariantCulture);
        // Set here rather than through NatsJSPubOpts.MsgId: the client would add it to headers that are
        // read-only once sent, and a retry sends the same headers again.
        headers[MsgIdHeader] = id;
        _ = SendUntilAcknowledgedAsync(headers, copy, payload.Length, packets, id);
    }

    private async Task SendUntilAcknowledgedAsync(NatsHeaders headers, byte[] buffer, int length, int packets, string id)
    {
        var backoff = TimeSpan.FromMilliseconds(50);
        // Acknowledged, or dropped for good; false when the gateway stopped first.
        var settled = false;
        try
        {
            for (var attempt = 0; !_stopping.IsCancellationRequested; attempt++)
            {
                if (attempt > 0)
                    Interlocked.Increment(ref Counters.IngressRetries);
                var attemptStarted = Stopwatch.GetTimestamp();
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                    timeout.CancelAfter(_ackTimeout);
                    var ack = await _js.PublishAsync(Subject, new ReadOnlyMemory<byte>(buffer, 0, length), NatsDefaultSerializer<ReadOnlyMemory<byte>>.Default,
                        headers: headers, cancellationToken: timeout.Token).ConfigureAwait(false);
                    // A duplicate is an earlier attempt that was stored though its acknowledgement was lost.
                    if (!ack.Duplicate)
                        ack.EnsureSuccess();
                    CountPublished(packets, length);
                    settled = true;
                    if (Volatile.Read(ref _failing) != 0 && Interlocked.Exchange(ref _failing, 0) != 0)
                        Logger.LogInformation("JetStream publishes to {Subject} are acknowledged again", Subject);
                    return;
                }
                catch (Exception ex) when (!_stopping.IsCancellationRequested && IsPermanent(ex))
                {
                    Dropped(packets, length, ex);
                    settled = true;
                    return;
                }
                catch (Exception ex) when (!_stopping.IsCancellationRequested)
                {
                    // No stream takes the subject though the broker answers: the stream was deleted (or changed) under us.
                    var quick = Stopwatch.GetElapsedTime(attemptStarted) < QuickAnswer(_js.Opts.RequestTimeout);
                    if (NoStream(ex, quick))
                        _ = _recreator.Nudge();
                    if (Interlocked.Exchange(ref _failing, 1) == 0)
                        Logger.LogWarning("JetStream publish to {Subject} not acknowledged ({Reason}); sending again until it is (ingress_retries, ingress_in_flight)",
                            Subject, Reason(ex, quick));
                    Logger.LogDebug("JetStream publish {Id} attempt {Attempt} not acknowledged ({Type}: {Error}); sending again",
                        id, attempt + 1, ex.GetType().Name, ex.Message);
                }
                try
                {
                    await Task.Delay(backoff, _stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
        finally
        {
            if (!settled)
            {
                // The gateway stopped before the stream acknowledged it: counted as dropped (the stream may hold it all the
                // same, its acknowledgement lost), so that what the stage read is still published + dropped.
                Interlocked.Add(ref Counters.IngressDropped, packets);
                Interlocked.Add(ref _abandoned, packets);
            }
            ArrayPool<byte>.Shared.Return(buffer);
            Interlocked.Decrement(ref Counters.IngressInFlight);
            _window.Release();
        }
    }

    /// <summary>
    /// Why a publish went unacknowledged, in the operator's words. No responder while the broker is connected means no
    /// stream takes the subject: the client's own text ("No response received from the server") read like an outage.
    /// </summary>
    private string Reason(Exception ex, bool quick) => ex switch
    {
        _ when NoStream(ex, quick) => $"no JetStream stream takes {Subject} though the broker is connected: was stream '{_stream}' ({_streamOption}) deleted, or its subjects changed? The gateway recreates a missing one with the configuration it had at start; publishes resume once a stream takes the subject again",
        // The attempt's own deadline: "TaskCanceledException: A task was canceled." said nothing of which.
        OperationCanceledException => $"no acknowledgement within ack_timeout ({Ferry.Stages.Internal.DurationWords.Of(_ackTimeout)}): the server is slow, paused or away",
        NatsJSPublishNoResponseException => $"the server did not answer within {Ferry.Stages.Internal.DurationWords.Of(_js.Opts.RequestTimeout)}: it is slow, paused or stuck",
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };

    /// <summary>
    /// Whether no stream takes the subject: the server answered at once that nobody responds (a live server without the
    /// stream). The client raises the same exception when its request times out on a paused or stuck server, which is not a
    /// missing stream: taken for one, a pause was said as a deleted stream and the gateway set about recreating it.
    /// </summary>
    private bool NoStream(Exception ex, bool quick) => ex is NatsJSPublishNoResponseException && quick && _js.Connection.ConnectionState == NatsConnectionState.Open;

    /// <summary>How soon a "no responders" answer comes from a live server: within milliseconds, far below the request timeout.</summary>
    private static TimeSpan QuickAnswer(TimeSpan requestTimeout) => TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, requestTimeout.Ticks / 2));

    /// <summary>
    /// Failures that a retry cannot cure: the message is over the server's <c>max_payload</c> (the client refuses
    /// to send it) or over the stream's <c>max_msg_size</c> (JetStream error 10054).
    /// </summary>
    private static bool IsPermanent(Exception ex) =>
        ex is NatsPayloadTooLargeException or NatsJSApiException { Error.ErrCode: MessageTooLargeForStream };

    private const int MessageTooLargeForStream = 10054;

    public override void SayAbandoned()
    {
        var neverSent = Interlocked.Read(ref _neverSent);
        if (neverSent > 0)
            Logger.LogWarning("ingress to {Subject}: the stop came while {Packets} packet(s) waited for a free place in the JetStream publish window (max_in_flight publishes not yet acknowledged): never published, counted in ingress_dropped",
                Subject, neverSent);
        var abandoned = Interlocked.Read(ref _abandoned);
        if (abandoned > 0)
            Logger.LogWarning("ingress to {Subject}: the gateway stopped with {Packets} packet(s) in JetStream publishes not yet acknowledged (the broker did not acknowledge them within the 5 s drain): counted in ingress_dropped; the stream may hold some all the same (stored, the acknowledgement lost)",
                Subject, abandoned);
    }

    public override async Task DrainAsync(CancellationToken cancellationToken)
    {
        // Every slot back means nothing is in flight.
        var taken = 0;
        try
        {
            for (; taken < _windowSize; taken++)
                await _window.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            if (taken > 0)
                _window.Release(taken);
        }
    }
}
