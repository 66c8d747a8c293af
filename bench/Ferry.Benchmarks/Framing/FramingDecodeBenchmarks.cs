using System.Buffers;
using BenchmarkDotNet.Attributes;
using Ferry.Framing;

namespace Ferry.Benchmarks.Framing;

/// <summary>
/// Decoding a buffer of <see cref="BenchFramings.Messages"/> messages, as a stage does after a large
/// receive; the time and allocation reported are per message.
/// </summary>
[MemoryDiagnoser]
public class FramingDecodeBenchmarks
{
    private ReadOnlySequence<byte> _input;
    private IFrameDecoder _decoder = null!;

    [Params("lines", "crlf", "u32be", "fixed", "header", "text-length", "mux")]
    public string Framing { get; set; } = "lines";

    [Params(64, 4096)]
    public int Size { get; set; }

    [Params(false, true)]
    public bool MultiSegment { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var framing = BenchFramings.Create(Framing, Size);
        var payload = BenchFramings.Payload(Size);
        var output = new ArrayBufferWriter<byte>();
        for (var i = 0; i < BenchFramings.Messages; i++)
            framing.Encoder.Encode(payload, BenchFramings.Fields, output);
        _input = BenchFramings.Sequence(output.WrittenSpan.ToArray(), MultiSegment);
        // One decoder for every invocation: after a whole buffer it is back in its initial state.
        _decoder = framing.CreateDecoder();
        if (Decode() != (long)Size * BenchFramings.Messages)
            throw new InvalidOperationException($"{Framing}: the benchmark input does not decode");
    }

    [Benchmark(OperationsPerInvoke = BenchFramings.Messages)]
    public long Decode()
    {
        var input = _input;
        long total = 0;
        while (_decoder.Decode(ref input, out var payload, out _, out _) == DecodeStatus.Frame)
            total += payload.Length;
        return total;
    }
}
