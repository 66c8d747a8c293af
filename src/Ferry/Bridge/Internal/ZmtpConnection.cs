using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Ferry.Bridge.Zmtp;

namespace Ferry.Bridge.Internal;

/// <summary>
/// One TCP connection speaking ZMTP 3.1 with the NULL mechanism, as a PUSH (frames out) or a PULL
/// (frames in). Both roles read: a PUSH end must still answer PING and notice the peer leaving.
/// </summary>
internal sealed class ZmtpConnection
{
    // Egress gathers queued frames into one flush until this many bytes are buffered.
    private const int FlushThresholdBytes = 256 * 1024;
    private const int MaxCommandBytes = 64 * 1024;

    private readonly Socket _socket;
    private readonly ZmtpSocketType _role;
    private readonly FrameBridgeCore _core;
    private readonly string _roleName;
    private readonly string _peer;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly BridgeMessageAssembler _assembler;
    private readonly byte[] _pingContext = new byte[ZmtpCommand.MaxPingContextLength];
    private int _pingContextLength;
    private bool _inPart;
    private bool _partMore;

    public ZmtpConnection(Socket socket, ZmtpSocketType role, FrameBridgeCore core)
    {
        _socket = socket;
        _role = role;
        _core = core;
        _roleName = role == ZmtpSocketType.Push ? "PUSH" : "PULL";
        _peer = socket.RemoteEndPoint?.ToString() ?? "?";
        socket.NoDelay = true;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        _assembler = new BridgeMessageAssembler(core.Options.MaxPayloadBytes);
    }

    /// <summary>Runs the connection until the peer leaves, it fails, or <paramref name="stopping"/> fires.
    /// Returns whether the handshake completed (the client resets its back-off on that).</summary>
    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        using CancellationTokenSource lifetime = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        bool established = false;
        string reason = "peer closed the connection";
        try
        {
            ZmtpGreeting greeting = await HandshakeAsync(lifetime.Token).ConfigureAwait(false);
            established = true;
            _core.OnEstablished(_role);
            BridgeLog.Established(_core.Logger, _roleName, _peer, greeting.VersionMajor, greeting.VersionMinor);

            Task receiving = ReceiveLoopAsync(lifetime.Token);
            if (_role == ZmtpSocketType.Push)
            {
                Task sending = SendLoopAsync(lifetime.Token);
                Task first = await Task.WhenAny(receiving, sending).ConfigureAwait(false);
                lifetime.Cancel();
                await AwaitQuietly(first == receiving ? sending : receiving).ConfigureAwait(false);
                await first.ConfigureAwait(false);
            }
            else
            {
                await receiving.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            reason = "bridge stopped";
        }
        catch (OperationCanceledException)
        {
            // The other loop ended first and cancelled this one: the reason is already the peer's.
        }
        catch (Exception e)
        {
            reason = e.Message;
            if (!stopping.IsCancellationRequested)
                BridgeLog.Failed(_core.Logger, _roleName, _peer, e.Message);
        }
        finally
        {
            if (established)
                _core.OnLost(_role);
            Close();
        }

        if (established)
            BridgeLog.Closed(_core.Logger, _roleName, _peer, reason);
        return established;
    }

    private static async Task AwaitQuietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop that ended first carries the reason; this one only had to stop.
        }
    }

    private void Close()
    {
        // Closing the socket first makes any pending pipe operation fail fast instead of flushing into a dead peer.
        _socket.Dispose();
        try
        {
            _output.Complete();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }

        try
        {
            _input.Complete();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
    }

    private async Task<ZmtpGreeting> HandshakeAsync(CancellationToken cancellationToken)
    {
        using CancellationTokenSource deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_core.Options.HandshakeTimeout);
        CancellationToken token = deadline.Token;
        try
        {
            ZmtpGreeting.Write(_output);
            await _output.FlushAsync(token).ConfigureAwait(false);

            ZmtpGreeting greeting = await ReadGreetingAsync(token).ConfigureAwait(false);
            if (!greeting.IsNullMechanism)
                throw new ZmtpProtocolException("the peer asks for a security mechanism other than NULL");

            // READY goes out only after the peer's greeting proved it speaks ZMTP 3.
            ZmtpCommand.WriteReady(_output, _role);
            await _output.FlushAsync(token).ConfigureAwait(false);

            await ReadReadyAsync(token).ConfigureAwait(false);
            return greeting;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"ZMTP handshake not completed within {_core.Options.HandshakeTimeout}");
        }
    }

    private async Task<ZmtpGreeting> ReadGreetingAsync(CancellationToken token)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(token).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            SequencePosition consumed = buffer.Start;
            SequencePosition examined = buffer.Start;
            bool parsed = false;
            ZmtpGreeting greeting = default;
            try
            {
                parsed = ZmtpGreeting.TryParse(buffer, ref consumed, ref examined, out greeting);
            }
            finally
            {
                _input.AdvanceTo(consumed, examined);
            }

            if (parsed)
                return greeting;
            if (result.IsCompleted)
                throw new IOException("the peer closed the connection during the ZMTP greeting");
        }
    }

    private async Task ReadReadyAsync(CancellationToken token)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(token).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            SequencePosition consumed = buffer.Start;
            SequencePosition examined = buffer.Start;
            string? refusal = null;
            bool parsed = false;
            try
            {
                parsed = ZmtpFrame.TryParse(buffer, ref consumed, ref examined, MaxCommandBytes, out ZmtpFrame frame);
                if (parsed)
                    refusal = CheckReady(frame);
            }
            finally
            {
                _input.AdvanceTo(consumed, examined);
            }

            if (refusal is not null)
            {
                // Tell the peer why before closing, as RFC 37's ERROR command allows.
                ZmtpCommand.WriteError(_output, refusal);
                await _output.FlushAsync(token).ConfigureAwait(false);
                throw new ZmtpProtocolException(refusal);
            }

            if (parsed)
                return;
            if (result.IsCompleted)
                throw new IOException("the peer closed the connection during the ZMTP handshake");
        }
    }

    /// <summary>Checks the peer's READY; returns a refusal reason for an incompatible socket type.</summary>
    private string? CheckReady(in ZmtpFrame frame)
    {
        if (!frame.Header.IsCommand)
            throw new ZmtpProtocolException("expected the READY command, got a message frame");
        byte[] body = ArrayPool<byte>.Shared.Rent((int)frame.Body.Length);
        try
        {
            frame.Body.CopyTo(body);
            ZmtpCommand command = ZmtpCommand.Parse(body.AsSpan(0, (int)frame.Body.Length));
            if (command.Kind == ZmtpCommandKind.Error)
                throw new ZmtpProtocolException($"the peer refused the handshake: {command.ErrorReason}");
            if (command.Kind != ZmtpCommandKind.Ready)
                throw new ZmtpProtocolException($"expected the READY command, got {System.Text.Encoding.ASCII.GetString(command.Name)}");
            if (!command.TryGetSocketType(out ReadOnlySpan<byte> peerType))
                throw new ZmtpProtocolException("the peer's READY has no Socket-Type");
            if (!ZmtpSocketTypes.IsCompatiblePeer(_role, peerType))
                return $"Invalid socket type: {System.Text.Encoding.ASCII.GetString(peerType)} cannot talk to {_roleName}";
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        var queue = _core.Outbound;
        while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                long buffered = 0;
                long payloadBytes = 0;
                int frames = 0;
                // Frames taken here and not yet flushed are in flight: lost if the connection drops now,
                // as with libzmq's pipes.
                while (buffered < FlushThresholdBytes && queue.TryRead(out Frame frame))
                {
                    BridgeMessageWriter.Write(frame, _output);
                    buffered += BridgeMessageWriter.GetEncodedLength(frame.Payload.Length);
                    payloadBytes += frame.Payload.Length;
                    frames++;
                }

                if (frames > 0)
                {
                    await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    _core.Counters.AddSent(frames, payloadBytes);
                }
            }
            finally
            {
                _writeLock.Release();
            }
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            ReceiveEvent received = ReceiveEvent.NeedMoreData;
            Frame frame = default;
            try
            {
                received = Process(ref buffer, out frame);
            }
            finally
            {
                // On an event the rest of the buffer is still unexamined, so the next read returns at once.
                if (received == ReceiveEvent.NeedMoreData)
                    _input.AdvanceTo(buffer.Start, buffer.End);
                else
                    _input.AdvanceTo(buffer.Start);
            }

            switch (received)
            {
                case ReceiveEvent.Frame:
                    await DeliverAsync(frame, cancellationToken).ConfigureAwait(false);
                    break;
                case ReceiveEvent.Ping:
                    await SendPongAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case ReceiveEvent.NeedMoreData when result.IsCompleted:
                    return;
            }
        }
    }

    private enum ReceiveEvent
    {
        NeedMoreData,
        Frame,
        Ping,
    }

    /// <summary>Walks frames at the front of <paramref name="buffer"/> until a frame or a PING needs
    /// attention or the bytes run out; message bodies stream into the assembler as they arrive.</summary>
    private ReceiveEvent Process(ref ReadOnlySequence<byte> buffer, out Frame frame)
    {
        frame = default;
        while (true)
        {
            if (_inPart)
            {
                buffer = buffer.Slice(_assembler.Consume(buffer));
                if (!_assembler.IsPartComplete)
                    return ReceiveEvent.NeedMoreData;
                _inPart = false;
                AssemblyOutcome outcome = _assembler.EndPart(_partMore, out frame);
                if (outcome == AssemblyOutcome.Frame)
                {
                    if (_role == ZmtpSocketType.Pull)
                        return ReceiveEvent.Frame;
                    _core.Counters.AddDropped();
                    BridgeLog.MessageDropped(_core.Logger, _peer, "a PULL peer sent a message to a PUSH socket");
                }
                else if (outcome == AssemblyOutcome.Dropped)
                {
                    _core.Counters.AddDropped();
                    BridgeLog.MessageDropped(_core.Logger, _peer, _assembler.DropReason);
                }

                continue;
            }

            if (!ZmtpFrameHeader.TryRead(buffer, out ZmtpFrameHeader header, out int headerLength))
                return ReceiveEvent.NeedMoreData;

            if (header.IsCommand)
            {
                if (header.BodyLength > MaxCommandBytes)
                    throw new ZmtpProtocolException($"command of {header.BodyLength} bytes is too large");
                if (buffer.Length - headerLength < header.BodyLength)
                    return ReceiveEvent.NeedMoreData;
                ReadOnlySequence<byte> body = buffer.Slice(headerLength, header.BodyLength);
                buffer = buffer.Slice(body.End);
                if (HandleCommand(body))
                    return ReceiveEvent.Ping;
                continue;
            }

            buffer = buffer.Slice(headerLength);
            _assembler.BeginPart(header.BodyLength);
            _partMore = header.More;
            _inPart = true;
        }
    }

    /// <summary>Acts on a command after the handshake; returns true for a PING that needs a PONG.</summary>
    private bool HandleCommand(in ReadOnlySequence<byte> body)
    {
        Span<byte> bytes = body.Length <= 256 ? stackalloc byte[(int)body.Length] : new byte[body.Length];
        body.CopyTo(bytes);
        ZmtpCommand command = ZmtpCommand.Parse(bytes);
        switch (command.Kind)
        {
            case ZmtpCommandKind.Ping:
                ReadOnlySpan<byte> context = command.PingContext;
                context.CopyTo(_pingContext);
                _pingContextLength = context.Length;
                return true;
            case ZmtpCommandKind.Error:
                throw new ZmtpProtocolException($"the peer sent ERROR: {command.ErrorReason}");
            default:
                // PONG answers a PING we never send; unknown commands are ignored as RFC 37 asks.
                BridgeLog.CommandIgnored(_core.Logger, System.Text.Encoding.ASCII.GetString(command.Name), _peer);
                return false;
        }
    }

    private ValueTask DeliverAsync(Frame frame, CancellationToken cancellationToken)
    {
        _core.Counters.AddReceived(frame.Payload.Length);
        // A full receive queue makes this wait, which stops reading the socket and closes the TCP window:
        // the peer's PUSH then blocks, as a slow Rogue slave would make it.
        return _core.Inbound.TryWrite(frame) ? ValueTask.CompletedTask : _core.Inbound.WriteAsync(frame, cancellationToken);
    }

    private async Task SendPongAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ZmtpCommand.WritePong(_output, _pingContext.AsSpan(0, _pingContextLength));
            await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
