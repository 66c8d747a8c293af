using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Bus;
using Ferry.Cli.Pipeline;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A reply proxy built in the test's process, as <c>ferry run</c> wires it (server stage 'front', client stage 'back', the
/// request and answer routes over one <see cref="ReplyBook"/>), on a fake clock, with the upstream a socket the test
/// reads and answers by hand.
/// </summary>
internal sealed class Proxy2Rig : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<IDisposable> _routes = [];
    private TcpClient? _upstream;
    private StreamReader? _upstreamReader;

    public StageTime Time { get; } = new();
    public InProcessBus Bus { get; } = new();
    public TcpServerStage Front { get; }
    public TcpClientStage Back { get; }
    public ReplyBook Book { get; }
    public ReplyRequests Requests { get; }
    public ConcurrentQueue<string> Losses { get; } = new();
    /// <summary>Requests 'front' has published (counted before the request route sees them).</summary>
    public int Published => Volatile.Read(ref _published);
    private int _published;

    public Proxy2Rig(string name, int capacity = ReplyBook.DefaultCapacity, TimeSpan? waitTimeout = null, TimeSpan? halfCloseLinger = null,
        string? backFraming = null, int backGroupSize = 1, int? backEgressBytes = null, int smallSocketBuffers = 0)
    {
        if (smallSocketBuffers > 0)
            _listener.Server.ReceiveBufferSize = smallSocketBuffers; // the accepted upstream socket takes it
        _listener.Start();
        var lines = FramingSpec.Parse("lines");
        Front = new TcpServerStage(new TcpServerStageOptions
        {
            Name = name + "-front", Bind = "127.0.0.1:0", Framing = lines, HalfCloseLinger = halfCloseLinger ?? TimeSpan.Zero,
        }, Bus, timeProvider: Time);
        Back = new TcpClientStage(new TcpClientStageOptions
        {
            Name = name + "-back", Connect = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}",
            Framing = backFraming is null ? lines : FramingSpec.Parse(backFraming), GroupSize = backGroupSize, GroupLinger = TimeSpan.FromSeconds(1),
            EgressBufferBytes = backEgressBytes ?? 1024 * 1024, Socket = new Ferry.Transport.TcpSocketOptions { SendBufferSize = smallSocketBuffers },
            EgressOverflow = EgressOverflowPolicy.Wait, EgressWaitTimeout = waitTimeout ?? TimeSpan.FromSeconds(60),
        }, Bus, timeProvider: Time);
        Book = new ReplyBook(new ReplyLoss(Back.Name, Front.Name, Losses.Enqueue, Time), capacity);
        _routes.Add(DirectTopic.Of<PacketGroup>(Bus, StageTopics.PacketGroup(Front.Name)).Subscribe((group, _) =>
        {
            Interlocked.Add(ref _published, group.Count);
            return default;
        }));
        Requests = (ReplyRequests)RouteWiring.AttachRequests(Bus, new RouteDefinition(Front.Name, Back.Name, RouteTarget.Any, "routes[0]"), Front, Back, Book);
        _routes.Add(Requests);
        _routes.Add(RouteWiring.AttachAnswers(Bus, new RouteDefinition(Back.Name, Front.Name, RouteTarget.Reply, "routes[1]"), Front, Book));
    }

    public IPEndPoint FrontEndPoint => Front.LocalEndPoint!;

    public async Task StartAsync()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        await Front.StartAsync(timeout.Token);
        var accepted = _listener.AcceptTcpClientAsync(timeout.Token);
        await Back.ConnectAsync(timeout.Token);
        _upstream = await accepted;
        _upstreamReader = new StreamReader(_upstream.GetStream(), Encoding.ASCII);
    }

    /// <summary>The next request the upstream reads.</summary>
    public async Task<string> UpstreamReadsAsync()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        return await _upstreamReader!.ReadLineAsync(timeout.Token) ?? throw new IOException("the upstream connection ended");
    }

    /// <summary>From now on the upstream answers every request with itself, in order.</summary>
    public void UpstreamEchoes() => _ = _upstream!.GetStream().CopyToAsync(_upstream.GetStream());

    /// <summary>The upstream ends its connection (a FIN after what it wrote, never a reset), answering nothing more.</summary>
    public void UpstreamCloses() => _upstream!.Client.Shutdown(SocketShutdown.Send);

    public Task UpstreamAnswersAsync(string lines) => _upstream!.GetStream().WriteAsync(Encoding.ASCII.GetBytes(lines)).AsTask();

    public Task<FramedTestClient> ConnectClientAsync()
        => FramedTestClient.ConnectAsync(FrontEndPoint, new FramedTestClientOptions { Framing = FramingSpec.Parse("lines"), Timeout = Deadline });

    public async ValueTask DisposeAsync()
    {
        foreach (var route in _routes)
            route.Dispose();
        // The upstream goes first and the fake clock jumps: whatever still waits for room in 'back' (on the old code, front's
        // own thread) gives up, so that a failed test ends instead of hanging in the stages' stop.
        _upstreamReader?.Dispose();
        _upstream?.Dispose();
        _listener.Dispose();
        Time.Advance(TimeSpan.FromHours(1));
        await Front.DisposeAsync();
        await Back.DisposeAsync();
    }
}
