using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Ferry.Hosting.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Ferry.Benchmarks.Telemetry;

/// <summary>
/// What measuring one packet group's publish latency costs the service thread while an exporter collects:
/// an OpenTelemetry histogram with the stage tag (the instrument issue 13 shipped first) against Ferry's own
/// per-stage buckets, with a fresh clock read per group (as first shipped) or the loop round's time (what
/// Ferry does). Per group (one operation = 256 groups).
/// </summary>
[MemoryDiagnoser]
public class PublishLatencyBenchmarks
{
    private const int Groups = 256;
    private Meter _meter = null!;
    private Histogram<double> _histogram = null!;
    private MeterProvider _provider = null!;
    private readonly PublishLatencyHistogram _ferry = new();
    private readonly KeyValuePair<string, object?> _stageTag = new("ferry.stage", "tcp_server");
    private readonly long _receivedAt = DateTime.UtcNow.Ticks;
    private long _roundNow = DateTime.UtcNow.Ticks + 10;

    [GlobalSetup]
    public void Setup()
    {
        _meter = new Meter("Ferry.Bench." + Guid.NewGuid().ToString("N"));
        _histogram = _meter.CreateHistogram("ferry.tcp.group.publish_latency", "s", null, tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = PublishLatencyHistogram.BoundsSeconds });
        // A real SDK pipeline that keeps the instrument enabled, as the Prometheus exporter does.
        _provider = Sdk.CreateMeterProviderBuilder().AddMeter(_meter.Name)
            .AddReader(new BaseExportingMetricReader(new DiscardingExporter())).Build();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _provider.Dispose();
        _meter.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Groups)]
    public void OpenTelemetryHistogram()
    {
        for (var i = 0; i < Groups; i++)
        {
            var ticks = DateTime.UtcNow.Ticks - _receivedAt;
            _histogram.Record(ticks > 0 ? ticks / (double)TimeSpan.TicksPerSecond : 0, _stageTag);
        }
    }

    [Benchmark(OperationsPerInvoke = Groups)]
    public void FerryBucketsFreshClock()
    {
        for (var i = 0; i < Groups; i++)
            _ferry.Record(DateTime.UtcNow.Ticks - _receivedAt);
    }

    /// <summary>What Ferry does: "now" is the loop round's time, a field the loop already wrote.</summary>
    [Benchmark(OperationsPerInvoke = Groups)]
    public void FerryBucketsRoundClock()
    {
        for (var i = 0; i < Groups; i++)
            _ferry.Record(Volatile.Read(ref _roundNow) - _receivedAt);
    }

    [Benchmark(OperationsPerInvoke = Groups)]
    public long ClockOnly()
    {
        long sum = 0;
        for (var i = 0; i < Groups; i++)
            sum += DateTime.UtcNow.Ticks - _receivedAt;
        return sum;
    }

    private sealed class DiscardingExporter : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch) => ExportResult.Success;
    }
}
