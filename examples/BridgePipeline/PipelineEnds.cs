using System.Text.Json;
using Ferry.Bridge;

namespace BridgePipeline;

/// <summary>Settings of either end.</summary>
public sealed record PipelineOptions
{
    /// <summary>The server's bind address, or the address the client dials.</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>Base port P (the bridge uses P and P+1).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>Frames to send (hardware) or to process before exiting (analysis; 0 = run until stopped).</summary>
    public int Frames { get; init; } = 1000;

    /// <summary>Largest payload the generator makes.</summary>
    public int MaxBytes { get; init; } = 4096;

    /// <summary>The generator's seed.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>What an end did.</summary>
/// <param name="Frames">Frames sent (hardware) or processed (analysis).</param>
/// <param name="Verified">Frames that came back right (hardware).</param>
/// <param name="Mismatches">Frames that came back wrong (hardware).</param>
/// <param name="FirstMismatch">The first wrong one, described.</param>
public sealed record PipelineResult(int Frames, int Verified, int Mismatches, string? FirstMismatch);

/// <summary>
/// The two processes of seed 001's loopback split, each Rogue's <c>src &gt;&gt; tcp &gt;&gt; dst</c>:
/// the hardware side owns a <see cref="FrameBridgeServer"/> (generator in, verifier out), the analysis
/// side a <see cref="FrameBridgeClient"/> that sends every frame back analysed.
/// </summary>
public static class PipelineEnds
{
    /// <summary>
    /// The hardware process: binds P and P+1, waits for the analysis client, sends the generator's frames
    /// and checks what comes back; completes when every frame has come back.
    /// </summary>
    public static async Task<PipelineResult> RunHardwareAsync(PipelineOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var generator = new FrameGenerator(options.Frames, options.MaxBytes, options.Seed);
        var verifier = new FrameVerifier(generator);
        await using var tcp = new FrameBridgeServer(options.Address, options.Port);
        await Line(output, new { type = "listening", port = options.Port });
        await tcp.WaitReadyAsync(cancellationToken);
        await Line(output, new { type = "ready" });

        using var allBack = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var down = tcp.PipeToAsync((frame, _) =>                      // tcp >> dst
        {
            verifier.Check(frame);
            if (verifier.Received == generator.Count)
                allBack.Cancel();
            return ValueTask.CompletedTask;
        }, allBack.Token);
        await generator.PipeToAsync(tcp, cancellationToken);         // src >> tcp
        try
        {
            await down;
        }
        catch (OperationCanceledException) when (allBack.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
        }
        var result = new PipelineResult(generator.Count, verifier.Received - verifier.Mismatches, verifier.Mismatches, verifier.FirstMismatch);
        await Line(output, new { type = "done", frames = result.Frames, verified = result.Verified, mismatches = result.Mismatches, first_mismatch = result.FirstMismatch });
        return result;
    }

    /// <summary>
    /// The analysis process: dials P and P+1 (it may start first; it re-dials until the server is
    /// there), analyses every frame and sends it back; completes after <see cref="PipelineOptions.Frames"/>
    /// frames (0: when cancelled).
    /// </summary>
    public static async Task<PipelineResult> RunAnalysisAsync(PipelineOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        await using var tcp = new FrameBridgeClient(options.Address, options.Port);
        var processed = 0;
        using var finished = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            // tcp >> analysis >> tcp: the back-pressure of the return path slows the reading of the way in.
            await tcp.PipeToAsync(async (frame, ct) =>
            {
                await tcp.SendAsync(FrameAnalysis.Process(frame), ct);
                if (++processed == options.Frames)
                    finished.Cancel();
            }, finished.Token);
        }
        catch (OperationCanceledException) when (finished.IsCancellationRequested)
        {
        }
        await Line(output, new { type = "done", frames = processed });
        return new PipelineResult(processed, processed, 0, null);
    }

    private static async Task Line(TextWriter output, object line)
    {
        await output.WriteLineAsync(JsonSerializer.Serialize(line));
        await output.FlushAsync();
    }
}
