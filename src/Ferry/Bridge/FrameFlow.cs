using System.Diagnostics.CodeAnalysis;

namespace Ferry.Bridge;

/// <summary>
/// Connects frame sources to sinks, the C# shape of Rogue's <c>src &gt;&gt; tcp &gt;&gt; dst</c>:
/// <c>src.PipeToAsync(tcp)</c> and <c>tcp.PipeToAsync(dst)</c>. A pipe forwards in order, waits when
/// the sink back-pressures (so the source is read no faster than the sink takes), and ends when the
/// source ends or the token is cancelled.
/// </summary>
/// <remarks>
/// A pipe from a bridge end (<see cref="FrameBridgeServer"/>, <see cref="FrameBridgeClient"/>) runs
/// inline: the sink or handler is called on the end's receiving thread as each frame is decoded, with
/// no queue between them, and what it sends through the same end is gathered and written by that
/// thread (<c>server.PipeToAsync(server)</c> is an echo without a thread hop). While the sink waits, that
/// end's sockets are not read (backpressure). So a handler must not block that thread for long, and
/// must not stop the bridge and wait for the stop from inside itself (the stop waits for the handler).
/// The pipe's task ends only once the sink or handler is no longer being called, also when it is cancelled or the
/// bridge stops while a call is under way, so its caller may then dispose what the handler uses.
/// A bridge end as the sink is lent the received bytes (it copies them before its send completes); any
/// other sink or handler gets a fresh array it may keep.
/// </remarks>
/// <example>
/// <code>
/// await using var tcp = new FrameBridgeClient("daq-host", 8000);
/// Task toDaq = generator.PipeToAsync(tcp, ct);                       // src &gt;&gt; tcp
/// Task fromDaq = tcp.PipeToAsync((frame, ct) => Write(frame, ct), ct); // tcp &gt;&gt; dst
/// </code>
/// </example>
public static class FrameFlow
{
    /// <summary>Forwards every frame of <paramref name="source"/> into <paramref name="sink"/>; completes when the source ends.</summary>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in a required parameter (a sink or a handler); only the token is optional, so no call is ambiguous.")]
    public static async Task PipeToAsync(this IFrameSource source, IFrameSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sink);
        if (source is FrameBridgeEnd end)
        {
            // A bridge end hands its frames to the sink on its receiving thread: no queue, no hop.
            await end.PipeInlineAsync(sink, cancellationToken).ConfigureAwait(false);
            return;
        }
        await foreach (var frame in source.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            await sink.SendAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hands every frame of <paramref name="source"/> to <paramref name="handler"/>, one at a time, in order.</summary>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in a required parameter (a sink or a handler); only the token is optional, so no call is ambiguous.")]
    public static Task PipeToAsync(this IFrameSource source, Func<Frame, CancellationToken, ValueTask> handler, CancellationToken cancellationToken = default)
        => source.PipeToAsync(ToSink(handler), cancellationToken);

    /// <summary>A sink that runs <paramref name="handler"/> for each frame.</summary>
    public static IFrameSink ToSink(Func<Frame, CancellationToken, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return new HandlerSink(handler);
    }

    /// <summary>A source over frames you already have (tests, replays, generators).</summary>
    public static IFrameSource ToSource(this IAsyncEnumerable<Frame> frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        return new EnumerableSource(frames);
    }

    private sealed class HandlerSink(Func<Frame, CancellationToken, ValueTask> handler) : IFrameSink
    {
        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => handler(frame, cancellationToken);
    }

    private sealed class EnumerableSource(IAsyncEnumerable<Frame> frames) : IFrameSource
    {
        private int _taken;

        public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default)
        {
            if (Interlocked.Exchange(ref _taken, 1) != 0)
                throw new InvalidOperationException("this source has already been read");
            return WithCancellation(frames, cancellationToken);
        }

        private static async IAsyncEnumerable<Frame> WithCancellation(IAsyncEnumerable<Frame> frames, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await foreach (var frame in frames.WithCancellation(cancellationToken).ConfigureAwait(false))
                yield return frame;
        }
    }
}
