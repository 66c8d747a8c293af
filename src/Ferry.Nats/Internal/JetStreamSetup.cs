using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Internal;

/// <summary>Creates the ingress and egress streams when they are missing; existing streams are used as they are.</summary>
internal static class JetStreamSetup
{
    /// <summary>
    /// Ingress: a work queue (each message is removed once a worker acknowledges it), on disk. Egress: interest
    /// retention (kept until every gateway consumer that wants it has acknowledged it), on disk.
    /// </summary>
    public static async Task EnsureStreamsAsync(NatsJSContext js, string ingressStream, string ingressSubject,
        string egressStream, string egressSubject, CancellationToken cancellationToken)
    {
        await EnsureAsync(js, new StreamConfig(ingressStream, [ingressSubject])
        {
            Retention = StreamConfigRetention.Workqueue,
            Storage = StreamConfigStorage.File,
        }, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(js, new StreamConfig(egressStream, [egressSubject, egressSubject + ".>"])
        {
            Retention = StreamConfigRetention.Interest,
            Storage = StreamConfigStorage.File,
        }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task EnsureAsync(NatsJSContext js, StreamConfig config, CancellationToken cancellationToken)
    {
        try
        {
            await js.GetStreamAsync(config.Name!, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            try
            {
                await js.CreateStreamAsync(config, cancellationToken).ConfigureAwait(false);
            }
            catch (NatsJSApiException again) when (again.Error.ErrCode == 10058)
            {
                // Another gateway created it meanwhile with a different configuration: use theirs.
            }
        }
    }
}
