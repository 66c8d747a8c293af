using System.Net;
using System.Net.Sockets;
using Ferry.Hosting.Telemetry;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Ferry.Cli.Pipeline;

/// <summary>The <c>Ferry</c> meter exported as the file's <c>telemetry</c> block says: a Prometheus scrape endpoint and/or OTLP.</summary>
internal static class PipelineTelemetry
{
    /// <summary>The file key of the scrape endpoint's address, named in its errors.</summary>
    public const string ListenKey = "telemetry.prometheus.listen";

    /// <summary>
    /// Why <paramref name="text"/> cannot be the scrape endpoint's address, or null when it can: an IPv4 address, or an IPv6
    /// address in brackets, and a port from 1 to 65535. A host name is refused: the endpoint listens on exactly one address.
    /// </summary>
    public static string? ListenProblem(string text)
    {
        const string allowed = "use an IP address and a port from 1 to 65535, e.g. 127.0.0.1:9464, 0.0.0.0:9464 for every IPv4 interface, "
            + "[::1]:9464, or [::]:9464 for every IPv6 interface (an IPv6 address goes in brackets)";
        if (text.Count(c => c == ':') > 1 && !text.StartsWith('['))
            return "is not allowed: an IPv6 address needs brackets before its port; " + allowed;
        if (!IPEndPoint.TryParse(text, out var endPoint) || !text.Contains(':') || (text.StartsWith('[') && !text.Contains("]:", StringComparison.Ordinal)))
            return "is not allowed; " + allowed;
        if (endPoint.Port == 0)
            return "is not allowed: port 0 is not a port the scrape endpoint can be found on; " + allowed;
        return null;
    }

    /// <summary>
    /// How long the stop waits for the export's last flush (the SDK waits 5 s): a collector that is slow or takes the
    /// connection and never answers must not add that to every stop, after the stages' grace periods.
    /// </summary>
    public static readonly TimeSpan FinalExportBudget = TimeSpan.FromSeconds(1);

    /// <summary>Null when the file asks for no export; disposing the result (a <see cref="TelemetryExport"/>) stops every part of the export.</summary>
    /// <param name="telemetry">What to export.</param>
    /// <param name="loggerFactory">Where OTLP export failures (and recoveries) are said.</param>
    /// <param name="listenName">The flag or key that gave the scrape endpoint's address, named when it cannot listen.</param>
    /// <param name="time">The clock of the scrape endpoint's deadlines (tests give a fake one).</param>
    /// <exception cref="MetricsEndpointException">The scrape endpoint cannot listen (the port is taken, the address is not this host's).</exception>
    public static IDisposable? Start(TelemetryDefinition telemetry, ILoggerFactory loggerFactory, string listenName = ListenKey, TimeProvider? time = null)
    {
        if (telemetry.PrometheusListen is null && telemetry.OtlpEndpoint is null)
            return null;
        var parts = new List<IDisposable>();
        try
        {
            ScrapeFront? front = null;
            if (telemetry.PrometheusListen is { } listen)
            {
                try
                {
                    front = new ScrapeFront(IPEndPoint.Parse(listen), time);
                }
                catch (SocketException reason)
                {
                    throw new MetricsEndpointException($"{listenName} {listen}: the Prometheus endpoint cannot listen: {reason.Message}");
                }
                parts.Add(front);
            }
            if (telemetry.OtlpEndpoint is { } endpoint)
                parts.Add(new OtlpExportWatch(endpoint, loggerFactory));
            parts.Add(BuildProvider(telemetry, front));
            return new TelemetryExport(parts, front);
        }
        catch
        {
            foreach (var part in parts)
                part.Dispose();
            throw;
        }
    }

    private static MeterProvider BuildProvider(TelemetryDefinition telemetry, ScrapeFront? front)
    {
        // The exporter's own listener takes a loopback port found free a moment before: should another process take it
        // in between, another port is tried.
        for (var attempt = 1; ; attempt++)
        {
            var builder = Sdk.CreateMeterProviderBuilder().AddMeter(FerryMetrics.MeterName);
            if (front is not null)
            {
                var backend = attempt == 1 ? front.Backend : front.MoveBackend();
                builder.AddPrometheusHttpListener(o =>
                {
                    o.Port = backend.Port;
                    // The front's requests name the backend's address as their Host and start with its secret path: a local
                    // user who connects to this port directly gets a 404.
                    o.ConfigureHttpListener = (_, listener) =>
                    {
                        listener.Prefixes.Clear();
                        listener.Prefixes.Add($"http://{backend}{front.BackendPath}/");
                    };
                });
            }
            if (telemetry.OtlpEndpoint is { } endpoint)
                builder.AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Protocol = telemetry.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                    exporter.Endpoint = MetricsEndpoint(endpoint, exporter.Protocol);
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.ExportInterval.TotalMilliseconds;
                });
            try
            {
                return builder.Build();
            }
            catch (InvalidOperationException ex) when (ex.InnerException is HttpListenerException && attempt < 5)
            {
            }
            catch (InvalidOperationException ex) when (ex.InnerException is HttpListenerException reason)
            {
                throw new MetricsEndpointException($"the Prometheus endpoint's exporter cannot listen on {front!.Backend}: {reason.Message}");
            }
        }
    }

    /// <summary>
    /// Where OTLP metrics go. An endpoint set in code is used as is by the SDK (no signal path is added, unlike one from
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>), so over HTTP an endpoint without a path would post to <c>/</c>, which collectors
    /// answer with 404: it gets <c>/v1/metrics</c>. gRPC takes the address alone.
    /// </summary>
    internal static Uri MetricsEndpoint(Uri endpoint, OtlpExportProtocol protocol)
        => protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/" ? new Uri(endpoint, "/v1/metrics") : endpoint;

    /// <summary>The running export's parts, stopped in reverse order.</summary>
    internal sealed class TelemetryExport(List<IDisposable> parts, ScrapeFront? front) : IDisposable
    {
        /// <summary>The scrape endpoint's front, null without one (tests find the exporter's own listener through it).</summary>
        public ScrapeFront? Front => front;

        public void Dispose()
        {
            for (var i = parts.Count - 1; i >= 0; i--)
            {
                // The provider's shutdown flushes a last export; bounded here, its Dispose then finds it shut down and
                // does not wait again. An export still in flight ends on the exporter's own timeout, on a background thread.
                if (parts[i] is MeterProvider provider)
                    provider.Shutdown((int)FinalExportBudget.TotalMilliseconds);
                parts[i].Dispose();
            }
        }
    }
}
