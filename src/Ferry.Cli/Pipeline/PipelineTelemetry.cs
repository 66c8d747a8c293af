using Ferry.Hosting.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Ferry.Cli.Pipeline;

/// <summary>The <c>Ferry</c> meter exported as the file's <c>telemetry</c> block says: a Prometheus scrape endpoint and/or OTLP.</summary>
internal static class PipelineTelemetry
{
    /// <summary>Null when the file asks for no export.</summary>
    public static MeterProvider? Start(TelemetryDefinition telemetry)
    {
        if (telemetry.PrometheusListen is null && telemetry.OtlpEndpoint is null)
            return null;
        var builder = Sdk.CreateMeterProviderBuilder().AddMeter(FerryMetrics.MeterName);
        if (telemetry.PrometheusListen is { } listen)
        {
            var endPoint = System.Net.IPEndPoint.Parse(listen);
            builder.AddPrometheusHttpListener(o =>
            {
                o.Host = endPoint.Address.ToString();
                o.Port = endPoint.Port;
            });
        }
        if (telemetry.OtlpEndpoint is { } endpoint)
            builder.AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = endpoint;
                exporter.Protocol = telemetry.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.ExportInterval.TotalMilliseconds;
            });
        return builder.Build();
    }
}
