using System.Diagnostics;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;

namespace Ferry.Nats.Tests;

/// <summary>
/// A gateway stops in its own time, and without an exception, when its server is paused (SIGSTOP) with the client's buffers
/// full. Old code: the NATS client's dispose waited for its unsubscribes to time out (about 20 s) and then threw
/// <c>NatsTimeoutException</c> out of <see cref="NatsGateway.DisposeAsync"/>, which aborted <c>ferry serve</c> (exit 134).
/// </summary>
public sealed class StalledServerStopTests
{
    [SkippableFact]
    public async Task Disposing_with_the_server_paused_ends_within_its_bound_and_throws_nothing()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var gateway = await Gateway.StartAsync(server, "stalled", FramingSpec.Parse("lines"), o =>
        {
            o.PublishTimeout = TimeSpan.FromMilliseconds(200);
            o.WriteBufferBytes = 64 * 1024;
        });
        using var flood = new LineFlood(gateway.Port);
        await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressPackets > 1000, TimeSpan.FromSeconds(30), () => gateway.Nats.Counters.ToString());
        await server.PauseAsync();
        try
        {
            // The client's buffers fill: the publishes start to be dropped, as with a server that is gone.
            await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressDropped > 0, TimeSpan.FromSeconds(60), () => gateway.Nats.Counters.ToString());
            var clock = Stopwatch.StartNew();
            var stop = gateway.DisposeAsync().AsTask();
            // The gateway's own bounds: 5 s for each drain and 5 s for the close, with the stage's forced stop before them.
            var ended = await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.Same(stop, ended);
            await stop; // throws what the stop threw
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), $"the stop took {clock.Elapsed}");
        }
        finally
        {
            server.Resume();
            flood.Stop(TimeSpan.FromSeconds(10));
        }
    }
}
