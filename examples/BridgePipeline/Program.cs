using System.Net.Sockets;
using BridgePipeline;
using Ferry.Examples;

// bridge-pipeline hardware|analysis [--address A] [--port P] [--frames N] [--max-bytes B] [--seed S]
if (!CommandLine.TryParse("bridge-pipeline", PipelineCommandLine.Usage, args, PipelineCommandLine.Parse, out var command, out var exitCode))
    return exitCode;
using var shutdown = new Shutdown();
try
{
    var result = command.End == "hardware"
        ? await PipelineEnds.RunHardwareAsync(command.Options, Console.Out, shutdown.Token)
        : await PipelineEnds.RunAnalysisAsync(command.Options, Console.Out, shutdown.Token);
    return result.Mismatches == 0 ? 0 : 1;
}
catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
{
    // Interrupted before the run completed (Ctrl+C, SIGTERM): the shell's code for an interrupted command. A
    // cancellation nobody asked for is a fault and surfaces.
    return 130;
}
catch (InvalidOperationException e)
{
    // A port in use, or an address that is not this machine's: one line, not a stack trace.
    Console.Error.WriteLine($"bridge-pipeline: {e.Message}");
    return 1;
}
catch (SocketException e)
{
    // In practice a name that does not resolve: the resolver's message alone ("Name or service not known") names no setting.
    Console.Error.WriteLine($"bridge-pipeline: --address '{command.Options.Address}': {e.Message}");
    return 1;
}
