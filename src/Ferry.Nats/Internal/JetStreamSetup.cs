using System.Runtime.ExceptionServices;
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
    /// <exception cref="JetStreamNoAnswerException">The server has JetStream but left a request unanswered (on every try, with <c>retry</c>).</exception>
    /// <remarks><c>afterRefusal</c> is the tests' hook: awaited when the server refused to create a stream, before the gateway
    /// looks whether one of that name exists now. <c>sayKey</c> names the option of a refused stream (<c>ingress_stream</c>) in the
    /// words of whoever set the options (<see cref="NatsGatewayOptions.Say"/>); by its property when null. <c>retry</c> tries each
    /// stream again that went unanswered (the gateway's start); one try when null.</remarks>
    public static async Task<(StreamConfig Ingress, StreamConfig Egress)> EnsureStreamsAsync(NatsJSContext js, string url, string ingressStream, string ingressSubject,
        string egressStream, string egressSubject, CancellationToken cancellationToken, Func<Task>? afterRefusal = null, Func<string, string>? sayKey = null,
        string? coreMode = null, JetStreamStartRetry? retry = null)
    {
        sayKey ??= NatsGatewayOptions.PropertyOf;
        coreMode ??= new NatsGatewayOptions().SayCoreMode;
        var ingressConfig = new StreamConfig(ingressStream, [ingressSubject])
        {
            Retention = StreamConfigRetention.Workqueue,
            Storage = StreamConfigStorage.File,
        };
        var ingress = await Step(() => EnsureAsync(js, url, coreMode, sayKey("ingress_stream"), ingressConfig, afterRefusal, cancellationToken)).ConfigureAwait(false);
        var egressConfig = new StreamConfig(egressStream, [egressSubject, egressSubject + ".>"])
        {
            Retention = StreamConfigRetention.Interest,
            Storage = StreamConfigStorage.File,
        };
        var egress = await Step(() => EnsureAsync(js, url, coreMode, sayKey("egress_stream"), egressConfig, afterRefusal, cancellationToken)).ConfigureAwait(false);
        return (ingress, egress);

        Task<StreamConfig> Step(Func<Task<StreamConfig>> ensure) => retry is null ? ensure() : retry.RunAsync(ensure, cancellationToken);
    }

    /// <summary>
    /// One JetStream request (or a few that make one step, named together) whose going unanswered, on a server that advertises
    /// JetStream, is said as that (<see cref="JetStreamNoAnswerException"/> naming <paramref name="request"/>), not as "no JetStream".
    /// </summary>
    /// <param name="js">The context the request goes through: its server, its request timeout.</param>
    /// <param name="request">The request in the operator's words, e.g. <c>create stream 'ferry_pos_in'</c>.</param>
    /// <param name="ask">Sends it.</param>
    public static async Task<T> AskAsync<T>(NatsJSContext js, string request, Func<Task<T>> ask)
    {
        try
        {
            return await ask().ConfigureAwait(false);
        }
        catch (NatsJSApiNoResponseException ex) when (HasJetStream(js))
        {
            throw new JetStreamNoAnswerException(js.Connection.Opts.Url, request, js.Opts.RequestTimeout, [], ex);
        }
    }

    /// <inheritdoc cref="AskAsync{T}"/>
    public static Task AskAsync(NatsJSContext js, string request, Func<Task> ask) => AskAsync(js, request, async () =>
    {
        await ask().ConfigureAwait(false);
        return true;
    });

    /// <summary>
    /// Whether the server said in its INFO that it has JetStream. The client reports a server without JetStream (no responders
    /// on its API subjects) and a request that timed out alike on some paths (<see cref="NatsJSApiNoResponseException"/>), so
    /// this is what tells a server that is not there for JetStream from one that is but did not answer.
    /// </summary>
    public static bool HasJetStream(NatsJSContext js) => js.Connection.ServerInfo is { JetStreamAvailable: true };

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
        catch (NatsJSApiException again) when (again.Error.ErrCode is StreamNameInUse or SubjectsOverlap)
        {
            // Created meanwhile by someone else (see CreatedMeanwhileAsync): there.
            await CreatedMeanwhileAsync(js, config.Name!, again, cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>
    /// A create refused because the stream exists by now: created by another gateway of the stage meanwhile, with another
    /// configuration (10058), or at the same instant (10065, "subjects overlap with an existing stream": the server checks
    /// the name and the subjects in two steps, so the second of two creates of one stream can be refused for the first
    /// one's subjects; two gateways of a stage starting together on a new server had one of them fail its start so).
    /// </summary>
    /// <returns>The stream's configuration as it is now.</returns>
    /// <exception cref="NatsJSApiException"><paramref name="refusal"/> again when no stream of that name exists: the
    /// subjects are another stream's.</exception>
    private static async Task<StreamConfig> CreatedMeanwhileAsync(NatsJSContext js, string name, NatsJSApiException refusal, CancellationToken cancellationToken)
    {
        try
        {
            return (await js.GetStreamAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false)).Info.Config;
        }
        catch (NatsJSApiException missing) when (missing.Error.Code == 404)
        {
            ExceptionDispatchInfo.Throw(refusal);
            throw;
        }
    }

    // "stream name already in use with a different configuration".
    private const int StreamNameInUse = 10058;

    // "subjects overlap with an existing stream".
    private const int SubjectsOverlap = 10065;

    /// <summary>
    /// The error a gateway reports when its JetStream API requests go unanswered: no JetStream on the server
    /// (it runs without <c>-js</c>), which the client only sees as "no responders".
    /// </summary>
    public static bool IsNoJetStream(Exception ex) => ex is NatsNoRespondersException or NatsJSApiNoResponseException;

    /// <summary>
    /// What a refused recreation means, in the operator's words (<paramref name="coreMode"/>: <see cref="NoJetStreamMessage"/>). A request
    /// that timed out on a server whose INFO advertises JetStream is a server that did not answer (busy, paused), not one without
    /// JetStream, as at start (<see cref="JetStreamNoAnswerException"/>).
    /// </summary>
    public static string DescribeRefusal(NatsJSContext js, string url, Exception ex, string coreMode) =>
        ex is NatsJSApiNoResponseException && HasJetStream(js)
            ? $"the NATS server at '{NatsUrlText.Redacted(url)}' has JetStream (its INFO says so) but did not answer within "
                + $"{js.Opts.RequestTimeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} s: "
                + "it is busy, paused or stuck (look at its load and log)"
            : IsNoJetStream(ex) ? NoJetStreamMessage(url, coreMode)
            : ex is NatsJSApiException api ? $"{api.Error.Description} (error {api.Error.ErrCode})" : $"{ex.GetType().Name}: {ex.Message}";

    /// <summary>A JetStream request named a stream that does not exist (deleted).</summary>
    public static bool IsStreamNotFound(Exception ex) => ex is NatsJSApiException { Error.ErrCode: StreamNotFound };

    // "stream not found".
    private const int StreamNotFound = 10059;

    /// <param name="url">The server.</param>
    /// <param name="coreMode">How the reader of the options turns JetStream off (<see cref="NatsGatewayOptions.SayCoreMode"/>): it used to be
    /// "use mode core" to every reader, a key of no run file, flag or property.</param>
    public static string NoJetStreamMessage(string url, string coreMode) =>
        $"the NATS server at '{NatsUrlText.Redacted(url)}' does not answer JetStream requests: JetStream is not enabled there (start nats-server with -js, "
        + $"or a jetstream block in its configuration), or set {coreMode}";

    /// <summary>Whether a stream of <paramref name="subjects"/> takes <paramref name="subject"/> (NATS wildcards: '*' one token, '>' the rest).</summary>
    internal static bool Takes(ICollection<string>? subjects, string subject)
        => (subjects ?? []).Any(pattern => SubjectPattern.Matches(pattern, subject));

    /// <summary>A subject a pattern of the gateway's stands for: <c>ferry.pos.out.&gt;</c> as <c>ferry.pos.out.any</c>.</summary>
    private static string Probe(string subject) => string.Join('.', subject.Split('.').Select(t => t is ">" or "*" ? "any" : t));

    // option: the stream's option as the reader of the error calls it (NatsGatewayOptions.IngressStream, bus.ingress_stream).
    private static async Task<StreamConfig> EnsureAsync(NatsJSContext js, string url, string coreMode, string option, StreamConfig config, Func<Task>? afterRefusal,
        CancellationToken cancellationToken)
    {
        try
        {
            StreamConfig found;
            try
            {
                found = (await AskAsync(js, $"look up stream '{config.Name}'",
                    async () => await js.GetStreamAsync(config.Name!, cancellationToken: cancellationToken).ConfigureAwait(false)).ConfigureAwait(false)).Info.Config;
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                try
                {
                    return (await AskAsync(js, $"create stream '{config.Name}'",
                        async () => await js.CreateStreamAsync(config, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false)).Info.Config;
                }
                catch (NatsJSApiException again) when (again.Error.ErrCode is StreamNameInUse or SubjectsOverlap)
                {
                    // Another gateway created it meanwhile: use theirs (a refusal for another stream's subjects stays one).
                    if (afterRefusal is not null)
                        await afterRefusal().ConfigureAwait(false);
                    found = await AskAsync(js, $"look up stream '{config.Name}' again, after its create was refused",
                        () => CreatedMeanwhileAsync(js, config.Name!, again, cancellationToken)).ConfigureAwait(false);
                }
            }
            // A stream of this name that does not take the gateway's subjects is another stage's: a name made the same from another
            // prefix and stage (a.b + c and a + b_c both give a_b_c_in), or a template without {stage}. Used as it was, every
            // publish found no stream and was sent again for ever, and the egress consumers could not be made.
            if (config.Subjects!.FirstOrDefault(subject => !Takes(found.Subjects, Probe(subject))) is { } missing)
                throw new InvalidOperationException(
                    $"JetStream stream '{config.Name}' ({option}) exists with subjects {string.Join(", ", found.Subjects ?? [])}, which do not take {missing}: "
                    + "it is another stage's or another prefix's (a stream name made the same from another prefix and stage, or a stream option without {stage}); "
                    + $"give this stage a stream of its own ({option}), or delete that stream if nothing uses it");
            return found;
        }
        catch (Exception ex) when (IsNoJetStream(ex))
        {
            throw new InvalidOperationException(NoJetStreamMessage(url, coreMode), ex);
        }
        catch (NatsJSApiException ex)
        {
            // E.g. another stream already takes these subjects (10065), or the account's limits are reached.
            throw new InvalidOperationException(
                $"JetStream refused stream '{config.Name}' ({option}) on subjects {string.Join(", ", config.Subjects!)}: "
                + $"{ex.Error.Description} (error {ex.Error.ErrCode})", ex);
        }
    }
}
