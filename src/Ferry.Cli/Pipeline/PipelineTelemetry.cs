using System.Net;
using Ferry.Hosting.Telemetry;
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
    /// Why <paramref name="text"/> cannot be the scrape endpoint's address, or null when it can: an IPv4 address and a port
    /// from 1 to 65535. IPv6 is refused here, not at start: .NET's managed HTTP listener reads the port of a prefix from the
    /// first colon after the scheme, so no bracketed IPv6 prefix can be given to it ("Invalid port in prefix").
    /// </summary>
    public static string? ListenProblem(string text)
    {
        const string allowed = "use an IP address and a port from 1 to 65535, IPv4 only, e.g. 127.0.0.1:9464, or 0.0.0.0:9464 for every IPv4 interface";
        if (!IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port == 0 || !text.Contains(':'))
            return "is not allowed; " + allowed;
        if (endPoint.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            return "is not allowed: the scrape endpoint cannot listen on IPv6 (.NET's HTTP listener takes no IPv6 prefix); " + allowed;
        return null;
    }

    /// <summary>Null when the file asks for no export.</summary>
    /// <param name="telemetry">What to export.</param>
    /// <param name="listenName">The flag or key that gave the scrape endpoint's address, named when it cannot listen.</param>
    /// <exception cref="MetricsEndpointException">The scrape endpoint cannot listen (the port is taken, the address is not this host's).</exception>
    public static MeterProvider? Start(TelemetryDefinition telemetry, string listenName = ListenKey)
    {
        if (telemetry.PrometheusListen is null && telemetry.OtlpEndpoint is null)
            return null;
        var builder = Sdk.CreateMeterProviderBuilder().AddMeter(FerryMetrics.MeterName);
        if (telemetry.PrometheusListen is { } listen)
        {
            var endPoint = IPEndPoint.Parse(listen);
            builder.AddPrometheusHttpListener(o =>
            {
                o.Port = endPoint.Port;
                // Ours replace the exporter's one prefix (its Host option): see Prefixes.
                o.ConfigureHttpListener = (_, listener) =>
                {
                    listener.Prefixes.Clear();
                    foreach (var prefix in Prefixes(endPoint))
                        listener.Prefixes.Add(prefix);
                };
            });
        }
        if (telemetry.OtlpEndpoint is { } endpoint)
            builder.AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = endpoint;
                exporter.Protocol = telemetry.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.ExportInterval.TotalMilliseconds;
            });
        try
        {
            return builder.Build();
        }
        catch (InvalidOperationException ex) when (ex.InnerException is HttpListenerException reason)
        {
            throw new MetricsEndpointException($"{listenName} {telemetry.PrometheusListen}: the Prometheus endpoint cannot listen: {reason.Message}");
        }
    }

    /// <summary>
    /// The HTTP listener's prefixes for <paramref name="endPoint"/>. .NET's managed listener binds one socket per address a
    /// prefix's host names and answers a request only when its Host header is a prefix's host. 0.0.0.0 (every IPv4 interface)
    /// becomes the wildcard prefix, which binds exactly that and answers any Host. A single address keeps its literal prefix
    /// and adds <c>localhost</c> when it resolves first to that very address, so the listener, which binds a prefix's first
    /// address, opens no other socket: the endpoint never listens wider than it was told. Other names (a DNS name of a single
    /// address) get 404; listen on 0.0.0.0 to answer any Host.
    /// </summary>
    private static List<string> Prefixes(IPEndPoint endPoint)
    {
        var port = endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (endPoint.Address.Equals(IPAddress.Any))
            return [$"http://*:{port}/"];
        var prefixes = new List<string> { $"http://{endPoint.Address}:{port}/" };
        try
        {
            if (Dns.GetHostAddresses("localhost") is [var first, ..] && first.Equals(endPoint.Address))
                prefixes.Add($"http://localhost:{port}/");
        }
        catch (System.Net.Sockets.SocketException)
        {
            // No localhost in this resolver: the literal prefix alone.
        }
        return prefixes;
    }
}
