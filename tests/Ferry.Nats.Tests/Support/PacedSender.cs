using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Nats.Tests.Support;

/// <summary>
/// Streams <c>count</c> numbered lines (<c>00000042\n</c>) at a fixed rate on its own thread with blocking
/// sends: when the server stops reading, the send blocks (the TCP window is closed) and the sender falls
/// behind, then catches up as fast as it can.
/// </summary>
public sealed class PacedSender
{
    private readonly Thread _thread;
    private readonly Socket _socket;
    private readonly int _count, _rate;
    private long _sent;

    public PacedSender(int port, int count, int rate)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _socket.Connect(IPAddress.Loopback, port);
        (_count, _rate) = (count, rate);
        _thread = new Thread(Run) { IsBackground = true, Name = "paced-sender" };
    }

    public int LocalPort => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    public long Sent => Interlocked.Read(ref _sent);

    public Exception? Error { get; private set; }

    public bool Done => !_thread.IsAlive;

    public void Start() => _thread.Start();

    public static string Line(int n) => n.ToString("D8") + "\n";

    private void Run()
    {
        try
        {
            var clock = Stopwatch.StartNew();
            var batch = new StringBuilder();
            var next = 0;
            while (next < _count)
            {
                var due = (int)Math.Min(_count, (long)(clock.Elapsed.TotalSeconds * _rate) + 1);
                if (due <= next)
                {
                    Thread.Sleep(1); // pacing, not waiting for a condition
                    continue;
                }
                batch.Clear();
                for (; next < due; next++)
                    batch.Append(Line(next));
                var bytes = Encoding.ASCII.GetBytes(batch.ToString());
                var offset = 0;
                while (offset < bytes.Length)
                    offset += _socket.Send(bytes, offset, bytes.Length - offset, SocketFlags.None);
                Interlocked.Exchange(ref _sent, next);
            }
        }
        catch (Exception ex)
        {
            Error = ex;
        }
    }

    public void Close() => _socket.Dispose();
}
