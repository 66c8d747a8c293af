using BridgePipeline;
using Ferry.Examples;

// bridge-pipeline hardware|analysis [--address A] [--port P] [--frames N] [--max-bytes B] [--seed S]
using var shutdown = new Shutdown();
const string Usage = "usage: bridge-pipeline hardware|analysis [--address A] [--port P] [--frames N] [--max-bytes B] [--seed S]";
if (args.Length == 0 || args[0] is not ("hardware" or "analysis") || args.Length % 2 == 0)
{
    Console.Error.WriteLine($"bridge-pipeline: unexpected '{string.Join(' ', args)}'; {Usage}");
    return 2;
}
var options = new PipelineOptions();
for (var i = 1; i < args.Length; i += 2)
{
    var value = args[i + 1];
    try
    {
        options = args[i] switch
        {
            "--address" => options with { Address = value },
            "--port" => options with { Port = int.Parse(value) },
            "--frames" => options with { Frames = int.Parse(value) },
            "--max-bytes" => options with { MaxBytes = int.Parse(value) },
            "--seed" => options with { Seed = int.Parse(value) },
            _ => throw new FormatException($"unknown option '{args[i]}'"),
        };
    }
    catch (FormatException e)
    {
        Console.Error.WriteLine($"bridge-pipeline: {args[i]} {value}: {e.Message}; {Usage}");
        return 2;
    }
}
try
{
    var result = args[0] == "hardware"
        ? await PipelineEnds.RunHardwareAsync(options, Console.Out, shutdown.Token)
        : await PipelineEnds.RunAnalysisAsync(options, Console.Out, shutdown.Token);
    return result.Mismatches == 0 ? 0 : 1;
}
catch (OperationCanceledException)
{
    return 130;
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"bridge-pipeline: {e.Message}");
    return 1;
}
