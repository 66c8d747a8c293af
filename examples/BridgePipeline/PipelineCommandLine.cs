using Ferry.Bridge;
using Ferry.Examples;

namespace BridgePipeline;

/// <summary>Which end to run, and its settings.</summary>
/// <param name="End"><c>hardware</c> or <c>analysis</c>.</param>
/// <param name="Options">The settings.</param>
public sealed record PipelineCommand(string End, PipelineOptions Options);

/// <summary>bridge-pipeline's command line.</summary>
public static class PipelineCommandLine
{
    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: bridge-pipeline hardware|analysis [--address A] [--port P] [--frames N] [--max-bytes B] [--seed S]
          hardware         binds P and P+1, sends the frames and checks that each comes back analysed
          analysis         dials P and P+1 and sends every frame back analysed
          --address A      the hardware end's bind address, the analysis end's server (default 127.0.0.1)
          --port P         the base port, 1 to 65534: the bridge uses P and P+1 (default 8000)
          --frames N       frames to send (hardware, 1 or more) or to analyse before exiting (analysis; 0 runs until
                           stopped); give both ends the same number (default 1000)
          --max-bytes B    the largest payload the hardware end makes, 4 to 67108864 (default 4096)
          --seed S         the hardware end's seed: the same seed makes the same frames (default 1)
        """;

    /// <summary>The end and settings <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static PipelineCommand Parse(string[] args)
    {
        var line = new CommandLine(args, "--address", "--port", "--frames", "--max-bytes", "--seed");
        var end = line.Arguments("the end to run (hardware or analysis)")[0];
        if (end is not ("hardware" or "analysis"))
            throw new UsageException($"unknown end '{end}'; use hardware or analysis");
        var defaults = new PipelineOptions();
        var address = line.Text("--address", defaults.Address);
        if (Uri.CheckHostName(address) == UriHostNameType.Unknown)
            throw new UsageException($"--address '{address}' is not an IP address or a host name");
        return new PipelineCommand(end, new PipelineOptions
        {
            Address = address,
            Port = line.Number("--port", defaults.Port, 1, 65534),
            // The hardware end waits for every frame it sent to come back: with none to send it would wait forever.
            Frames = line.Number("--frames", defaults.Frames, end == "hardware" ? 1 : 0, int.MaxValue),
            // Every frame starts with its 4-byte index; the bridge refuses a payload above its MaxPayloadBytes.
            MaxBytes = line.Number("--max-bytes", defaults.MaxBytes, 4, new FrameBridgeOptions().MaxPayloadBytes),
            Seed = line.Number("--seed", defaults.Seed, int.MinValue, int.MaxValue),
        });
    }
}
