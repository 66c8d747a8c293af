using System.Buffers;
using System.Buffers.Binary;
using Ferry.Bridge.Zmtp;

namespace Ferry.Bridge.Internal;

/// <summary>What finishing a message part produced.</summary>
internal enum AssemblyOutcome
{
    /// <summary>More parts of the same message follow.</summary>
    Partial,
    Frame,
    Dropped,
}

/// <summary>
/// Rebuilds frames from the parts of a ZeroMQ message as their bodies stream in, so an 8 MiB payload
/// is copied once, straight from the socket buffer into the frame's own array. A message that is not
/// exactly four parts of 2, 1, 1 and any octets, or whose payload is over the limit, is skipped octet
/// by octet and reported as dropped; the stream stays in sync.
/// </summary>
internal sealed class BridgeMessageAssembler
{
    private readonly long _maxPayloadBytes;
    private readonly byte[] _metadata = new byte[4];
    private int _partIndex;
    private string? _dropReason;
    private byte[]? _payload;
    private long _partLength;
    private long _partDone;

    public BridgeMessageAssembler(long maxPayloadBytes) => _maxPayloadBytes = maxPayloadBytes;

    /// <summary>Why the last <see cref="AssemblyOutcome.Dropped"/> message was dropped.</summary>
    public string DropReason { get; private set; } = string.Empty;

    public bool IsPartComplete => _partDone == _partLength;

    /// <summary>Starts the next part, <paramref name="bodyLength"/> octets long.</summary>
    public void BeginPart(long bodyLength)
    {
        _partLength = bodyLength;
        _partDone = 0;
        if (_dropReason is not null)
            return;

        if (_partIndex >= RogueMessage.PartCount)
            _dropReason = $"more than {RogueMessage.PartCount} parts";
        else if (RogueMessage.CheckPartLength(_partIndex, bodyLength) is { } wrongLength)
            _dropReason = wrongLength;
        else if (_partIndex == RogueMessage.PayloadPart && bodyLength > _maxPayloadBytes)
            _dropReason = $"payload of {bodyLength} bytes exceeds the limit of {_maxPayloadBytes}";
        else if (_partIndex == RogueMessage.PayloadPart)
            _payload = bodyLength == 0 ? [] : GC.AllocateUninitializedArray<byte>((int)bodyLength);
    }

    /// <summary>Takes as much of the current part's body as <paramref name="input"/> holds; returns how many octets it took.</summary>
    public long Consume(in ReadOnlySequence<byte> input)
    {
        long take = Math.Min(_partLength - _partDone, input.Length);
        if (take == 0)
            return 0;

        if (_dropReason is null)
        {
            Span<byte> destination = _partIndex switch
            {
                0 => _metadata.AsSpan(0, 2),
                1 => _metadata.AsSpan(2, 1),
                2 => _metadata.AsSpan(3, 1),
                _ => _payload.AsSpan(),
            };
            input.Slice(0, take).CopyTo(destination[(int)_partDone..]);
        }

        _partDone += take;
        return take;
    }

    /// <summary>Ends the current part; with <paramref name="more"/> false this ends the message.</summary>
    public AssemblyOutcome EndPart(bool more, out Frame frame)
    {
        frame = default;
        _partIndex++;
        if (more)
            return AssemblyOutcome.Partial;

        AssemblyOutcome outcome;
        if (_dropReason is null && _partIndex != RogueMessage.PartCount)
            _dropReason = $"{_partIndex} parts, expected {RogueMessage.PartCount}";
        if (_dropReason is null)
        {
            frame = new Frame(_payload, BinaryPrimitives.ReadUInt16LittleEndian(_metadata), _metadata[2], _metadata[3]);
            outcome = AssemblyOutcome.Frame;
        }
        else
        {
            DropReason = _dropReason;
            outcome = AssemblyOutcome.Dropped;
        }

        _partIndex = 0;
        _dropReason = null;
        _payload = null;
        return outcome;
    }
}
