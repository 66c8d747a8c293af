using System.Diagnostics;

namespace Ferry.Examples.Tests.Support;

/// <summary>An example program run as its own process (<c>dotnet Example.dll args</c>), as a newcomer runs it.</summary>
internal static class ExampleProcess
{
    /// <summary>Each program by the name it gives itself in its messages, and the assembly it is built into.</summary>
    public static readonly IReadOnlyDictionary<string, string> Programs = new Dictionary<string, string>
    {
        ["bridge-pipeline"] = typeof(BridgePipeline.PipelineEnds).Assembly.Location,
        ["card-gateway"] = typeof(CardGateway.Gateway).Assembly.Location,
        ["chat-rooms"] = typeof(ChatRooms.ChatServer).Assembly.Location,
        ["file-transfer"] = typeof(FileTransfer.FileSender).Assembly.Location,
        ["nats-worker"] = typeof(NatsWorker.UppercaseWorker).Assembly.Location,
        ["sensor-stage"] = typeof(SensorStage.SensorServer).Assembly.Location,
        ["stream-mux"] = typeof(StreamMux.MuxServer).Assembly.Location,
    };

    /// <summary>Starts <paramref name="program"/> with its output redirected and its stdin closed.</summary>
    public static Process Start(string program, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Programs[program]);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.StandardInput.Close();
        return process;
    }

    /// <summary>Sends SIGTERM, as <c>kill</c> and service managers stop a program (Ctrl+C's SIGINT takes the same path in the examples).</summary>
    public static async Task TerminateAsync(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])!;
        await kill.WaitForExitAsync();
    }

    /// <summary>Runs <paramref name="program"/> to its end (killed after <paramref name="deadline"/>: then the code is -1).</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string program, IReadOnlyList<string> args, TimeSpan deadline)
    {
        using var process = Start(program, args);
        return await FinishAsync(process, deadline);
    }

    /// <summary>Reads <paramref name="process"/>'s output to its end (killed after <paramref name="deadline"/>: then the code is -1).</summary>
    public static async Task<(int Code, string Out, string Err)> FinishAsync(Process process, TimeSpan deadline)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(deadline);
        var finished = true;
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            finished = false;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        return (finished ? process.ExitCode : -1, await stdout, await stderr);
    }

    /// <summary>The non-empty lines of <paramref name="text"/>.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
