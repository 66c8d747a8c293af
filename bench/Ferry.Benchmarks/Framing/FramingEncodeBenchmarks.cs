using System.Buffers;
using BenchmarkDotNet.Attributes;
using Ferry.Framing;

namespace Ferry.Benchmarks.Framing;

/// <summary>Encoding <see cref="BenchFramings.Messages"/> messages into one egress buffer; per message.</summary>
[MemoryDiagnoser]
public class FramingEncodeBenchmarks
{
    private ArrayBufferWriter<byte> _output = null!;
    private IFrameEncoder _encoder = null!;
    private byte[] _payload = [];

    [Params("lines", "crlf", "u32be", "fixed", "header", "text-length", "mux")]
    public string Framing { get; set; } = "lines";

    [Params(64, 4096)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _encoder = BenchFramings.Create(Framing, Size).Encoder;
        _payload = BenchFramings.Payload(Size);
        _output = new ArrayBufferWriter<byte>(BenchFramings.Messages * _encoder.GetEncodedLength(Size));
    }

    [Benchmark(OperationsPerInvoke = BenchFramings.Messages)]
    public int Encode()
    {
        // Reusing the buffer without clearing it: an egress buffer is reused the same way.
        _output.ResetWrittenCount();
        var fields = BenchFramings.Fields;
        for (var i = 0; i < BenchFramings.Messages; i++)
            _encoder.Encode(_payload, fields, _output);
        return _output.WrittenCount;
    }
}
