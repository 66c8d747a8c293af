using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// The acceptor at the descriptor reserve, in process: the reserve's ceiling is lowered for the stages of
/// one test (<see cref="DescriptorReserve.CeilingForTest"/>), so every accepted descriptor is in it. The
/// process-level behaviour under a real <c>ulimit -n</c> is <c>Cli/DescriptorExhaustionTests</c>.
/// </summary>
public abstract class DescriptorReserveTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : DescriptorReserveTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : DescriptorReserveTests(StageTransport.Stream);

    private const int Queued = 24;

    [Fact]
    public async Task At_the_reserve_every_queued_client_is_refused_at_once_in_arrival_order_without_waiting_for_time_to_pass()
    {
        // The stage's clock never moves: a refusal that waited for a pause to end (the acceptor shed one
        // client per 100 ms) would never come.
        var time = new StageTime();
        using var reserve = DescriptorReserve.CeilingForTest(0);
        await using var h = new FerryTestServer(new TcpServerStageOptions { Backlog = 128 }.On(transport), time: time);
        await h.StartAsync();

        var clients = new List<Socket>();
        var order = new List<string>();
        var resetAtConnect = new HashSet<int>();
        try
        {
            for (var i = 0; i < Queued; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(socket);
                // Bound first: a connect the reset beat leaves no local address to read afterwards.
                socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                order.Add(socket.LocalEndPoint!.ToString()!);
                try
                {
                    await socket.ConnectAsync(h.EndPoint);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
                {
                    // Refused before the connect returned: the reset was reported there (and reads now see an end).
                    resetAtConnect.Add(i);
                }
            }

            await Poll.UntilAsync(() => Shed(h).Count == Queued, $"all {Queued} queued clients to be shed (fake time stays at +0 ms)");
            var shed = Shed(h);
            Assert.All(shed, e => Assert.Contains("out of file descriptors", e.Detail));
            // Refused in the order they queued: the backlog is drained front to back.
            Assert.Equal(order, shed.Select(e => e.Peer.ToString()));
            for (var i = 0; i < Queued; i++)
                Assert.True(resetAtConnect.Contains(i) || await ResetAsync(clients[i]), $"client {order[i]} was not reset");
            Assert.Equal(0, h.Stage.ConnectionCount);
            Assert.Equal(Queued, h.Stage.GetStats().RejectedTotal);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    private static List<DisconnectedEvent> Shed(FerryTestServer h)
        => h.Events.OfType<DisconnectedEvent>().Where(e => e.Reason == DisconnectReason.Limit).ToList();

    /// <summary>Whether the server reset the connection (a refusal at accept), as opposed to closing it with a FIN.</summary>
    private static async Task<bool> ResetAsync(Socket socket)
    {
        try
        {
            await socket.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10));
            return false; // data or a FIN
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
        {
            return true;
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            return true; // never connected because the reset came first
        }
    }
}
