using NATS.Client.Core;
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
    /// <returns>The streams' configurations as they are now (created so, or found so): what the gateway recreates them
    /// with if they go missing while the gateway runs.</returns>
    /// <exception cref="InvalidOperationException">The server has no JetStream, or refused a stream: the message says which and why.</exception>
    public static async Task<(StreamConfig Ingress, StreamConfig Egress)> EnsureStreamsAsync(NatsJSContext js, string url, string ingressStream, string ingressSubject,
        string egressStream, string egressSubject, CancellationToken cancellationToken)
    {
        var ingress = await EnsureAsync(js, url, "ingress_stream", new StreamConfig(ingressStream, [ingressSubject])
        {
            Retention = StreamConfigRetention.Workqueue,
            Storage = StreamConfigStorage.File,
        }, cancellationToken).ConfigureAwait(false);
        var egress = await EnsureAsync(js, url, "egress_stream", new StreamConfig(egressStream, [egressSubject, egressSubject + ".>"])
        {
            Retention = StreamConfigRetention.Interest,
            Storage = StreamConfigStorage.File,
        }, cancellationToken).ConfigureAwait(false);
        return (ingress, egress);
    }

    /// <summary>Creates a stream with <paramref name="config"/> unless one of that name exists.</summary>
    /// <returns>True when it created it; false when the stream exists (created meanwhile by someone else, or never gone).</returns>
    /// <exception cref="NatsJSApiException">The server refused it (e.g. another stream takes its subjects, limits).</exception>
    public static async Task<bool> CreateIfMissingAsync(NatsJSContext js, StreamConfig config, CancellationToken cancellationToken)
    {
        try
        {
            await js.GetStreamAsync(config.Name!, cancellationToken: cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
        }
        try
        {
            await js.CreateStreamAsync(config, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (NatsJSApiException again) when (again.Error.ErrCode == StreamNameInUse)
        {
            return false;
        }
    }

    // "stream name already in use with a different configuration".
    private const int StreamNameInUse = 10058;

    /// <summary>
    /// The error a gateway reports when its JetStream API requests go unanswered: no JetStream on the server
    /// (it runs without <c>-js</c>), which the client only sees as "no responders".
    /// </summary>
    public static bool IsNoJetStream(Exception ex) => ex is NatsNoRespondersException or NatsJSApiNoResponseException;

    /// <summary>What a refused recreation means, in the operator's words.</summary>
    public static string DescribeRefusal(string url, Exception ex) =>
        IsNoJetStream(ex) ? NoJetStreamMessage(url)
            : ex is NatsJSApiException api ? $"{api.Error.Description} (error {api.Error.ErrCode})" : $"{ex.GetType().Name}: {ex.Message}";

    /// <summary>A JetStream request named a stream that does not exist (deleted).</summary>
    public static bool IsStreamNotFound(Exception ex) => ex is NatsJSApiException { Error.ErrCode: StreamNotFound };

    // "stream not found".
    private const int StreamNotFound = 10059;

    public static string NoJetStreamMessage(string url) =>
        $"the NATS server at '{url}' does not answer JetStream requests: JetStream is not enabled there (start nats-server with -js, "
        + "or a jetstream block in its configuration), or use mode core";

    private static async Task<StreamConfig> EnsureAsync(NatsJSContext js, string url, string option, StreamConfig config, CancellationToken cancellationToken)
    {
        try
        {
            try
            {
                return (await js.GetStreamAsync(config.Name!, cancellationToken: cancellationToken).ConfigureAwait(false)).Info.Config;
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                try
                {
                    return (await js.CreateStreamAsync(config, cancellationToken).ConfigureAwait(false)).Info.Config;
                }
                catch (NatsJSApiException again) when (again.Error.ErrCode == StreamNameInUse)
                {
                    // Another gateway created it meanwhile with a different configuration: use theirs.
                    return (await js.GetStreamAsync(config.Name!, cancellationToken: cancellationToken).ConfigureAwait(false)).Info.Config;
                }
            }
        }
        catch (Exception ex) when (IsNoJetStream(ex))
        {
            throw new InvalidOperationException(NoJetStreamMessage(url), ex);
        }
        catch (NatsJSApiException ex)
        {
            // E.g. another stream already takes these subjects (10065), or the account's limits are reached.
            throw new InvalidOperationException(
                $"JetStream refused stream '{config.Name}' (option '{option}') on subjects {string.Join(", ", config.Subjects!)}: "
                + $"{ex.Error.Description} (error {ex.Error.ErrCode})", ex);
        }
    }
}
