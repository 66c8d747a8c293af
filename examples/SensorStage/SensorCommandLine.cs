using System.Net;
using Ferry.Examples;

namespace SensorStage;

/// <summary>Simulated sensors: where they connect, how many, how often each writes.</summary>
/// <param name="Stage">The stage's address.</param>
/// <param name="Sensors">Sensors, numbered from 1 (each its own connection).</param>
/// <param name="Rate">Each sensor's writes per second.</param>
public sealed record SimulateOptions(IPEndPoint Stage, int Sensors, double Rate);

/// <summary>What to run: the stage (<see cref="Serve"/>) or simulated sensors (<see cref="Simulate"/>); exactly one is set.</summary>
public sealed record SensorCommand(SensorServerOptions? Serve, SimulateOptions? Simulate);

/// <summary>sensor-stage's command line.</summary>
public static class SensorCommandLine
{
    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: sensor-stage serve [--bind HOST:PORT]
               sensor-stage simulate [--stage IP:PORT] [--sensors N] [--rate HZ]
          serve               the stage: prints its stats and every sensor's figures once a second
            --bind HOST:PORT  where to listen: host:port, :port or [ipv6]:port (default 127.0.0.1:9500)
          simulate            sensors streaming readings to the stage until stopped
            --stage IP:PORT   the stage's address, e.g. 127.0.0.1:9500 (the default)
            --sensors N       how many, 1 to 65535 (a sensor's id is 16 bits; default 3)
            --rate HZ         each sensor's writes per second, above 0 and at most 1000 (default 200)
        """;

    /// <summary>The command <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static SensorCommand Parse(string[] args)
    {
        switch (args)
        {
            case ["serve", .. var rest]:
            {
                var line = new CommandLine(rest, "--bind");
                line.Arguments();   // none: a stray word is an error, not ignored
                var defaults = new SensorServerOptions();
                return new SensorCommand(defaults with { Bind = line.ListenAddress("--bind", defaults.Bind) }, null);
            }
            case ["simulate", .. var rest]:
            {
                var line = new CommandLine(rest, "--stage", "--sensors", "--rate");
                line.Arguments();
                var stage = line.Text("--stage", "127.0.0.1:9500");
                // A simulator dials an IP address; a name or a missing port (IPEndPoint reads it as port 0) is a typo.
                if (!IPEndPoint.TryParse(stage, out var endPoint) || endPoint.Port == 0)
                    throw new UsageException($"--stage '{stage}' is not allowed; use an IP address and a port from 1 to 65535, e.g. 127.0.0.1:9500");
                return new SensorCommand(null, new SimulateOptions(
                    endPoint,
                    line.Number("--sensors", 3, 1, ushort.MaxValue),
                    // A sensor waits 1/rate s between writes; a timer below 1 ms (above 1000 Hz) would not wait that little.
                    line.Positive("--rate", 200, 1000)));
            }
            case []:
                throw new UsageException("the command is missing: serve or simulate");
            default:
                throw new UsageException($"unknown command '{args[0]}'; use serve or simulate");
        }
    }
}
