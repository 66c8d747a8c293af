using System.Net;
using System.Text.Json;
using SensorStage;
using Ferry.Examples;

// sensor-stage serve [--bind HOST:PORT] | sensor-stage simulate [--stage HOST:PORT] [--sensors N] [--rate HZ]
using var shutdown = new Shutdown();
try
{
    switch (args)
    {
        case ["serve"] or ["serve", "--bind", _]:
            await using (var server = await SensorServer.StartAsync(new SensorServerOptions { Bind = args.Length == 3 ? args[2] : "127.0.0.1:9500" }, shutdown.Token))
            {
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
            }
            return 0;
        case ["simulate", .. var rest]:
            var stage = IPEndPoint.Parse(Value(rest, "--stage", "127.0.0.1:9500"));
            var sensors = int.Parse(Value(rest, "--sensors", "3"));
            var interval = TimeSpan.FromSeconds(1.0 / double.Parse(Value(rest, "--rate", "200")));
            var running = Enumerable.Range(1, sensors).Select(async id =>
            {
                using var sensor = await SensorSimulator.ConnectAsync(stage, (ushort)id, shutdown.Token);
                while (!shutdown.Token.IsCancellationRequested)
                    await sensor.StreamAsync(1, interval, shutdown.Token);
            });
            await Task.WhenAll(running).ContinueWith(_ => { });
            return 0;
        default:
            Console.Error.WriteLine($"sensor-stage: unexpected '{string.Join(' ', args)}'; usage: sensor-stage serve [--bind HOST:PORT] | sensor-stage simulate [--stage HOST:PORT] [--sensors N] [--rate HZ]");
            return 2;
    }
}
catch (Exception e) when (e is FormatException or IOException)
{
    Console.Error.WriteLine($"sensor-stage: {e.Message}");
    return e is FormatException ? 2 : 1;
}

static string Value(string[] rest, string name, string fallback)
{
    var at = Array.IndexOf(rest, name);
    return at >= 0 && at + 1 < rest.Length ? rest[at + 1] : fallback;
}
