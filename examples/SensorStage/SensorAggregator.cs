using Ferry.Connections;

namespace SensorStage;

/// <summary>One sensor's figures.</summary>
/// <param name="Sensor">Its id.</param>
/// <param name="Samples">Readings received.</param>
/// <param name="Lost">Readings missing from the sequence (jumps).</param>
/// <param name="LastSequence">The last sequence number seen.</param>
/// <param name="Last">The last reading.</param>
public sealed record SensorFigures(ushort Sensor, long Samples, long Lost, uint LastSequence, SensorSample Last);

/// <summary>
/// Makes sense of seed 000's packets: each packet is whatever one <c>recv()</c> returned, so a
/// 16-byte reading may be split across packets of the same connection, and packets of many
/// connections are mixed in one group. The aggregator keeps each connection's unfinished bytes
/// (at most 15) and counts readings per sensor, watching their sequence numbers.
/// </summary>
public sealed class SensorAggregator
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ConnectionId, (byte[] Bytes, int Count)> _partial = [];
    private readonly SortedDictionary<ushort, SensorFigures> _sensors = [];

    /// <summary>Packet groups seen.</summary>
    public long Groups { get; private set; }

    /// <summary>Packets seen (recv calls of the stage).</summary>
    public long Packets { get; private set; }

    /// <summary>The most packets one group held (at most <c>group_size</c>).</summary>
    public int LargestGroup { get; private set; }

    /// <summary>Counts a packet group of <paramref name="packets"/> packets.</summary>
    public void OnGroup(int packets)
    {
        lock (_lock)
        {
            Groups++;
            LargestGroup = Math.Max(LargestGroup, packets);
        }
    }

    /// <summary>Takes one packet's bytes from <paramref name="connection"/> (copied as needed; nothing of the span is kept).</summary>
    public void OnPacket(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            Packets++;
            if (_partial.Remove(connection, out var partial))
            {
                var missing = SensorSample.Size - partial.Count;
                if (bytes.Length < missing)
                {
                    bytes.CopyTo(partial.Bytes.AsSpan(partial.Count));
                    _partial[connection] = (partial.Bytes, partial.Count + bytes.Length);
                    return;
                }
                bytes[..missing].CopyTo(partial.Bytes.AsSpan(partial.Count));
                Count(SensorSample.Read(partial.Bytes));
                bytes = bytes[missing..];
            }
            while (bytes.Length >= SensorSample.Size)
            {
                Count(SensorSample.Read(bytes));
                bytes = bytes[SensorSample.Size..];
            }
            if (!bytes.IsEmpty)
            {
                var rest = new byte[SensorSample.Size];
                bytes.CopyTo(rest);
                _partial[connection] = (rest, bytes.Length);
            }
        }
    }

    /// <summary>Forgets a closed connection's unfinished reading.</summary>
    public void OnDisconnected(ConnectionId connection)
    {
        lock (_lock)
            _partial.Remove(connection);
    }

    /// <summary>Every sensor's figures now, by id.</summary>
    public IReadOnlyList<SensorFigures> Snapshot()
    {
        lock (_lock)
            return [.. _sensors.Values];
    }

    private void Count(SensorSample sample)
    {
        if (!_sensors.TryGetValue(sample.Sensor, out var known))
        {
            _sensors[sample.Sensor] = new SensorFigures(sample.Sensor, 1, sample.Sequence, sample.Sequence, sample);
            return;
        }
        var lost = sample.Sequence > known.LastSequence + 1 ? sample.Sequence - known.LastSequence - 1 : 0;
        _sensors[sample.Sensor] = known with { Samples = known.Samples + 1, Lost = known.Lost + lost, LastSequence = sample.Sequence, Last = sample };
    }
}
