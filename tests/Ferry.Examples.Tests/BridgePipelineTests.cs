using System.Diagnostics;
using System.Text.Json;
using BridgePipeline;
using Ferry.Examples.Tests.Support;
using Ferry.Tests.Support;

namespace Ferry.Examples.Tests;

/// <summary>Seed 001's loopback process split: the hardware end and the analysis end, each its own process.</summary>
public sealed class BridgePipelineTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Frames_go_through_the_bridge_to_another_process_and_come_back_analysed()
    {
        const int Frames = 2000;
        var port = FreePorts.Pair();
        var common = new[] { "--port", port.ToString(), "--frames", Frames.ToString() };

        // The analysis side starts first and dials until the hardware side binds (as Rogue's client does).
        using var analysis = Start(["analysis", .. common]);
        using var hardware = Start(["hardware", .. common, "--max-bytes", "8192", "--seed", "7"]);

        var (hardwareCode, hardwareOut, hardwareErr) = await FinishAsync(hardware);
        var (analysisCode, analysisOut, analysisErr) = await FinishAsync(analysis);

        Assert.True(hardwareCode == 0, $"hardware exited {hardwareCode}: {hardwareOut}{hardwareErr}");
        Assert.True(analysisCode == 0, $"analysis exited {analysisCode}: {analysisOut}{analysisErr}");
        var lines = hardwareOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Json.Parse).ToList();
        Assert.Equal(["listening", "ready", "done"], lines.Select(l => l.Str("type")));
        var done = lines[^1];
        Assert.Equal(Frames, done.GetProperty("verified").GetInt32());
        Assert.Equal(0, done.GetProperty("mismatches").GetInt32());
        Assert.Equal(Frames, Json.Parse(analysisOut.Trim()).GetProperty("frames").GetInt32());
    }

    [Fact]
    public async Task Both_ends_also_run_in_one_process_through_their_entry_points()
    {
        var options = new PipelineOptions { Port = FreePorts.Pair(), Frames = 300, MaxBytes = 1024 };
        using var deadline = new CancellationTokenSource(Deadline);
        var analysis = PipelineEnds.RunAnalysisAsync(options, TextWriter.Null, deadline.Token);
        var hardware = await PipelineEnds.RunHardwareAsync(options, TextWriter.Null, deadline.Token);
        Assert.Equal(new PipelineResult(300, 300, 0, null), hardware);
        Assert.Equal(300, (await analysis).Frames);
    }

    private static Process Start(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(PipelineEnds).Assembly.Location);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        return Process.Start(start)!;
    }

    private static async Task<(int Code, string Out, string Err)> FinishAsync(Process process)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
