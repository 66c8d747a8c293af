using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// Watches the gateway's long-lived loops (each subscription's reader, each JetStream consumer, the event outbox). One
/// that ends while the gateway runs (its subscription faulted or was closed under it) leaves its subject unrouted until
/// a restart, which used to show only as a debug line at dispose. It is said at once: an error line and an <c>error</c>
/// event naming the loop and why, and the gateway's <c>connected</c> turns false for good (so a health check that
/// follows it, such as Ferry.Hosting's, turns unhealthy and an orchestrator restarts the process).
/// </summary>
/// <param name="logger">Where the error goes.</param>
/// <param name="stage">The stage named in it.</param>
/// <param name="counters">Whose <see cref="GatewayCounters.Broken"/> is set.</param>
/// <param name="outbox">Where the error event goes.</param>
/// <param name="stopping">True once the gateway stops: loops that end then end as they should (the event outbox ends
/// when its queue is completed, before the gateway's token is cancelled).</param>
internal sealed class LoopWatch(ILogger logger, string stage, GatewayCounters counters, EventOutbox outbox, Func<bool> stopping)
{
    /// <summary>Watches <paramref name="loop"/>, and returns it.</summary>
    /// <param name="what">The loop in the operator's words, e.g. <c>egress subscription on ferry.pos.out</c>.</param>
    /// <param name="loop">The loop, running.</param>
    public Task Watch(string what, Task loop)
    {
        _ = SayEndAsync(what, loop);
        return loop;
    }

    private async Task SayEndAsync(string what, Task loop)
    {
        Exception? error = null;
        try
        {
            await loop.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            error = ex;
        }
        if (stopping())
            return;
        counters.Broken = true;
        var why = error is null ? "it completed" : $"{error.GetType().Name}: {error.Message}";
        logger.LogError(error, "stage {Stage}: the gateway's {Loop} ended while the gateway runs ({Why}); what it carried is no longer handled until the gateway is restarted, and the gateway reports connected = false from now on",
            stage, what, why);
        outbox.Error(stage, "gateway", $"the gateway's {what} ended ({why}); what it carried is no longer handled until the gateway is restarted");
    }
}
