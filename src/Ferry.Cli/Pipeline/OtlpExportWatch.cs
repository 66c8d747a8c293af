using System.Diagnostics.Tracing;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Says when OTLP export fails, and when it works again, on the command's logger: one warning per streak of failed
/// exports ("telemetry.otlp: export to http://…/v1/metrics is failing: Connection refused (127.0.0.1:4318)") and one
/// when an export succeeds after it. The OpenTelemetry SDK reports export failures only through its exporter's
/// EventSource, so this listens there.
/// </summary>
/// <remarks>
/// While export works it costs nothing: the exporter's source is enabled at <see cref="EventLevel.Warning"/>, where a
/// working export writes no event. Only during a failure streak is it enabled at <see cref="EventLevel.Informational"/>,
/// which adds the exporter's "export succeeded" event, the end of the streak; then it goes back to warnings.
/// An event names the endpoint it is about, so another exporter in the process (another pipeline, a test) is left alone.
/// </remarks>
internal sealed class OtlpExportWatch : EventListener
{
    /// <summary>The OTLP exporter's EventSource.</summary>
    private const string ExporterSource = "OpenTelemetry-Exporter-OpenTelemetryProtocol";

    /// <summary>The exporter's "Export succeeded for {0}" event (Informational).</summary>
    private const int ExportSucceeded = 21;

    private readonly Lock _gate = new();
    private EventSource? _source;
    private readonly string? _endpoint;
    private ILogger? _logger;
    private bool _failing;

    // EventListener's constructor already announces the sources that exist, before this body runs: those are kept in
    // _source (a field, set by OnEventSourceCreated) and nothing is logged before the logger is here.
    public OtlpExportWatch(Uri endpoint, ILoggerFactory loggerFactory)
    {
        _endpoint = endpoint.GetLeftPart(UriPartial.Authority);
        _logger = loggerFactory.CreateLogger("Ferry.Telemetry");
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name != ExporterSource)
            return;
        _source = eventSource;
        EnableEvents(eventSource, EventLevel.Warning);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventSource.Name != ExporterSource || _logger is not { } logger || _endpoint is not { } ours)
            return;
        var endpoint = Argument(e, "endpoint") ?? Argument(e, "rawCollectorUri");
        if (endpoint is not null && !endpoint.StartsWith(ours, StringComparison.OrdinalIgnoreCase))
            return; // another exporter's
        var failed = e.EventId != ExportSucceeded;
        if (failed && e.Level > EventLevel.Warning)
            return;
        lock (_gate)
        {
            if (_failing == failed)
                return; // the streak goes on: said once already
            _failing = failed;
        }
        SetLevel(failed ? EventLevel.Informational : EventLevel.Warning);
        if (failed)
            logger.LogWarning("telemetry.otlp: export to {Endpoint} is failing: {Reason}", endpoint ?? ours, Reason(e));
        else // a warning too, so that whoever saw the failure at the default level sees its end
            logger.LogWarning("telemetry.otlp: export to {Endpoint} works again", endpoint ?? ours);
    }

    private void SetLevel(EventLevel level)
    {
        if (_source is { } source)
            EnableEvents(source, level);
    }

    private static string? Argument(EventWrittenEventArgs e, string name)
    {
        if (e.PayloadNames is not { } names || e.Payload is not { } values)
            return null;
        var i = names.IndexOf(name);
        return i >= 0 && i < values.Count ? values[i] as string : null;
    }

    /// <summary>
    /// What went wrong, in one line: the exception's message without its type and stack ("Connection refused
    /// (127.0.0.1:4318)"), or the exporter's message and status.
    /// </summary>
    private static string Reason(EventWrittenEventArgs e)
    {
        var text = Argument(e, "ex") ?? Argument(e, "exceptionMessage");
        if (text is null && Argument(e, "message") is { } message)
            text = Argument(e, "statusString") is { Length: > 0 } status ? $"{message} ({status})" : message;
        if (text is null)
            return e.Message ?? $"event {e.EventId} of {ExporterSource}";
        var line = text.AsSpan();
        if (line.IndexOfAny('\r', '\n') is var end and >= 0)
            line = line[..end];
        // "System.Net.Http.HttpRequestException: Connection refused (…)": the type is noise to an operator.
        if (line.IndexOf(": ", StringComparison.Ordinal) is var colon and > 0 && !line[..colon].Contains(' '))
            line = line[(colon + 2)..];
        return line.Trim().ToString();
    }

    public override void Dispose()
    {
        _logger = null;
        base.Dispose();
    }
}
