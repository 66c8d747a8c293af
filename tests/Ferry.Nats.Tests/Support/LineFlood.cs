using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Nats.Tests.Support;

/// <summary>
/// Writes numbered lines of <see cref="LineBytes"/> bytes (<c>00000042xxxx…\n</c>) as fast as the server
/// reads them, on its own thread with blocking sends, until <see cref="Stop"/>; <see cref="Sent"/> counts
/// the lines written completely.
/// </summary>
public sealed class LineFlood : IDisposable
{
    public const int LineBytes = 1024;
    private const int LinesPerSend = 16;
    private readonly Thread _thread;
    private readonly Socket _socket;
    private long _sent;
    private volatile bool _stopping;

    public LineFlood(int port)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _socket.Connect(IPAddress.Loopback, port);
        _thread = new Thread(Run) { IsBackground = true, Name = "line-flood" };
        _thread.Start();
    }

    public long Sent => Interlocked.Read(ref _sent);

    public Exception? Error { get; private set; }

    /// <summary>Asks the thread to stop after the send it is in; true once it has (within the timeout).</summary>
    public bool Stop(TimeSpan timeout)
    {
        _stopping = true;
        return _thread.Join(timeout);
    }

    public static string Line(long n) => n.ToString("D8") + new string('x', LineBytes - 9) + "\n";

    private void Run()
    {
        try
        {
            var batch = new StringBuilder(LineBytes * LinesPerSend);
            for (long next = 0; !_stopping; )
            {
                batch.Clear();
                for (var i = 0; i < LinesPerSend; i++)
                    batch.Append(Line(next + i));
                var bytes = Encoding.ASCII.GetBytes(batch.ToString());
                var offset = 0;
                while (offset < bytes.Length)
                    offset += _socket.Send(bytes, offset, bytes.Length - offset, SocketFlags.None);
                next += LinesPerSend;
                Interlocked.Exchange(ref _sent, next);
            }
        }
        catch (Exception ex)
        {
            Error = ex;
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _socket.Dispose();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
