using System.Net;
using System.Net.Sockets;

namespace SensorStage;

/// <summary>
/// A simulated sensor: a plain TCP client that streams <see cref="SensorSample.Simulated"/> readings,
/// written in pieces of random size (as a real device's driver might), and reads the stage's commands.
/// </summary>
public sealed class SensorSimulator : IDisposable
{
    private readonly Socket _socket;
    private readonly Random _random;
    private uint _next;

    private SensorSimulator(Socket socket, ushort sensor, int seed)
    {
        _socket = socket;
        Sensor = sensor;
        _random = new Random(seed);
    }

    /// <summary>The sensor's id.</summary>
    public ushort Sensor { get; }

    /// <summary>Connects sensor <paramref name="sensor"/> to the stage.</summary>
    public static async Task<SensorSimulator> ConnectAsync(IPEndPoint stage, ushort sensor, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(stage.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(stage, cancellationToken);
        return new SensorSimulator(socket, sensor, seed: sensor);
    }

    /// <summary>Sends the next <paramref name="count"/> readings, <paramref name="interval"/> apart (zero: as fast as possible).</summary>
    public async Task StreamAsync(int count, TimeSpan interval, CancellationToken cancellationToken = default)
    {
        var bytes = new byte[count * SensorSample.Size];
        for (var i = 0; i < count; i++)
            SensorSample.Simulated(Sensor, _next++).Write(bytes.AsSpan(i * SensorSample.Size));
        var sent = 0;
        while (sent < bytes.Length)
        {
            // 1 to 3 readings' worth at a time, cut anywhere: readings straddle writes, and so recv()s.
            var piece = Math.Min(bytes.Length - sent, _random.Next(1, 3 * SensorSample.Size));
            sent += await _socket.SendAsync(bytes.AsMemory(sent, piece), SocketFlags.None, cancellationToken);
            if (interval > TimeSpan.Zero)
                await Task.Delay(interval, cancellationToken);
        }
    }

    /// <summary>Reads what the stage sent (commands), as it arrives.</summary>
    public async Task<byte[]> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        var buffer = new byte[4096];
        var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        return buffer[..read];
    }

    /// <summary>Disconnects.</summary>
    public void Dispose() => _socket.Dispose();
}
