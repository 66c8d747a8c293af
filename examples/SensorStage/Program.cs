using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using SensorStage;
using Ferry.Examples;

// sensor-stage serve [--bind HOST:PORT] | sensor-stage simulate [--stage IP:PORT] [--sensors N] [--rate HZ]
if (!CommandLine.TryParse("sensor-stage", SensorCommandLine.Usage, args, SensorCommandLine.Parse, out var command, out var exitCode))
    return exitCode;
using var shutdown = new Shutdown();
try
{
    if (command.Serve is { } serve)
    {
        await using var server = await SensorServer.StartAsync(serve, shutdown.Token);
        // Seed 000's 1 Hz socket_stats, with what the sensors sent.
        server.Reported += report => Console.WriteLine(JsonSerializer.Serialize(new
        {
            connections = report.Stage.ConnectionsNow,
            packets_per_s = report.Stage.PacketsReceivedPerSecond,
            bytes_per_s = report.Stage.BytesReceivedPerSecond,
            groups = report.Stage.GroupsPublishedTotal,
            largest_group = report.LargestGroup,
            sensors = report.Sensors.Select(s => new { s.Sensor, s.Samples, s.Lost }),
        }));
        Console.Error.WriteLine($"sensor-stage: listening on {server.LocalEndPoint}, service thread pinned to CPU 0; Ctrl+C stops");
        await shutdown.WaitAsync();
        return 0;
    }

    // The sensors stream until Ctrl+C; the first one that fails stops the others and its error ends the program.
    var simulate = command.Simulate!;
    using var stop = CancellationTokenSource.CreateLinkedTokenSource(shutdown.Token);
    var interval = TimeSpan.FromSeconds(1.0 / simulate.Rate);
    var running = Enumerable.Range(1, simulate.Sensors).Select(async id =>
    {
        try
        {
            await StreamAsync(simulate.Stage, (ushort)id, interval, stop.Token);
        }
        catch (IOException)
        {
            stop.Cancel();
            throw;
        }
    }).ToList();
    try
    {
        await Task.WhenAll(running);
    }
    catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
    {
    }
    return 0;
}
catch (IOException e)
{
    Console.Error.WriteLine($"sensor-stage: {e.Message}");
    return 1;
}
catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
{
    // Ctrl+C while the stage was still starting: the stop that was asked for, not a failure.
    return 0;
}

static async Task StreamAsync(IPEndPoint stage, ushort id, TimeSpan interval, CancellationToken cancellationToken)
{
    SensorSimulator sensor;
    try
    {
        sensor = await SensorSimulator.ConnectAsync(stage, id, cancellationToken);
    }
    catch (SocketException e)
    {
        throw new IOException($"sensor {id} cannot connect to {stage}: {e.Message}", e);
    }
    using (sensor)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
                await sensor.StreamAsync(1, interval, cancellationToken);
        }
        catch (SocketException e)
        {
            throw new IOException($"sensor {id} lost its connection to {stage}: {e.Message}", e);
        }
    }
}
