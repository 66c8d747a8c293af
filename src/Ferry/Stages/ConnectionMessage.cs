using Ferry.Framing;
using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>
/// One framed message handed to a connection handler (<see cref="FerryConnection.ReadAsync"/>).
/// </summary>
/// <remarks>
/// <para><b>Lifetime.</b> The payload lives in pooled memory shared by the messages of one read. It is
/// valid until the handler's <c>await foreach</c> moves on (the enumerator's next <c>MoveNextAsync</c>; when
/// the loop is left at this message with <c>break</c>, the next <c>ReadAsync</c> loop's first step, or the
/// handler's end); after that, reading <see cref="Payload"/> (or anything made from it, such as a
/// <see cref="System.Text.Json.JsonDocument"/> parsed from it) throws <see cref="ObjectDisposedException"/>
/// once the memory is recycled. It never shows another message's bytes. To keep data, say so:
/// <see cref="ToArray"/> copies the payload, <see cref="Retain"/> keeps it valid until the returned lease is disposed.</para>
/// <code>
/// await foreach (var message in connection.ReadAsync(ct))
/// {
///     kept.Add(message.ToArray());              // a copy of its own: keep it as long as you like
///     using var lease = message.Retain();       // or: valid until the lease is disposed
/// }
/// </code>
/// </remarks>
public readonly struct ConnectionMessage
{
    private readonly InboxBatch? _batch;

    internal ConnectionMessage(InboxBatch batch, ReadOnlyMemory<byte> payload, FrameFields fields, long receivedAtUtcTicks)
    {
        _batch = batch;
        Payload = payload;
        Fields = fields;
        ReceivedAtUtcTicks = receivedAtUtcTicks;
    }

    /// <summary>
    /// The message's bytes, without framing. Valid until the handler's enumerator moves on (see
    /// <see cref="ConnectionMessage"/>); afterwards reading it throws <see cref="ObjectDisposedException"/>.
    /// Keep data with <see cref="ToArray"/> or <see cref="Retain"/>.
    /// </summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The framing's header fields (message type, stream id, …); zero for framings without them.</summary>
    public FrameFields Fields { get; }

    /// <summary>When it was received, as UTC <see cref="DateTime.Ticks"/> of the stage's clock.</summary>
    public long ReceivedAtUtcTicks { get; }

    /// <summary><see cref="ReceivedAtUtcTicks"/> as a UTC time.</summary>
    public DateTimeOffset ReceivedAt => new(ReceivedAtUtcTicks, TimeSpan.Zero);

    /// <summary>A copy of the payload that the caller owns: keep it as long as you like.</summary>
    /// <exception cref="ObjectDisposedException">The message's life has already ended.</exception>
    public byte[] ToArray() => Payload.ToArray();

    /// <summary>
    /// Keeps <see cref="Payload"/> valid past the enumerator's next step until the returned lease is
    /// disposed (the pooled memory of the message's read goes back only then). Dispose it exactly when done.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The message's life has already ended.</exception>
    /// <exception cref="InvalidOperationException">The message is <c>default</c>, not one handed out by <see cref="FerryConnection.ReadAsync"/>.</exception>
    public IDisposable Retain()
        => (_batch ?? throw new InvalidOperationException("a default ConnectionMessage has nothing to retain")).Retain();
}
