using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ferry.Bridge;

// Frame bridge throughput: 64 KiB frames through an echo round trip, Ferry to Ferry, beside the same
// round trip through pure libzmq (pyzmq) and a Ferry client against a libzmq echo server, in one run.
//   dotnet run -c Release --project bench/BridgeBench -- [--frames N] [--size BYTES]
int frames = 20_000;
int size = 64 * 1024;
for (int a = 0; a + 1 < args.Length; a += 2)
{
    if (args[a] == "--frames")
        frames = int.Parse(args[a + 1], CultureInfo.InvariantCulture);
    else if (args[a] == "--size")
        size = int.Parse(args[a + 1], CultureInfo.InvariantCulture);
}

const string Python = "/usr/bin/python3";
string script = Path.Combine(AppContext.BaseDirectory, "zmq_echo_bench.py");
Console.WriteLine($"# frame bridge echo round trip: {frames} frames of {size} bytes, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
Console.WriteLine("| path | frames/s | MiB/s (payload, each way) |");
Console.WriteLine("| --- | ---: | ---: |");

Report("Ferry client -> Ferry server (echo) -> Ferry client", await FerryToFerryAsync(frames, size));
Report("pyzmq PUSH/PULL -> pyzmq echo -> pyzmq (libzmq 4.3.4)", await PyzmqAsync(frames, size));
Report("Ferry client -> pyzmq echo server -> Ferry client", await FerryToPyzmqAsync(frames, size));

void Report(string path, double seconds)
{
    if (double.IsNaN(seconds))
    {
        Console.WriteLine($"| {path} | n/a | n/a |");
        return;
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {path} | {frames / seconds:F0} | {frames * (double)size / seconds / (1 << 20):F0} |"));
}

static async Task<double> FerryToFerryAsync(int frames, int size)
{
    int port = FreePortPair();
    await using var server = new FrameBridgeServer("127.0.0.1", port);
    await using var client = new FrameBridgeClient("127.0.0.1", port);
    using var stop = new CancellationTokenSource();
    Task echo = Task.Run(async () =>
    {
        await foreach (Frame frame in server.ReadAllAsync(stop.Token))
            await server.SendAsync(frame, stop.Token);
    });
    await client.WaitReadyAsync();
    await RoundTripAsync(client, Math.Max(frames / 10, 100), size);
    double seconds = await RoundTripAsync(client, frames, size);
    await stop.CancelAsync();
    await echo.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    return seconds;
}

static async Task<double> FerryToPyzmqAsync(int frames, int size)
{
    int port = FreePortPair();
    using Process? echo = StartPython(["-u", Path.Combine(AppContext.BaseDirectory, "zmq_echo_bench.py"), "echo", port.ToString(CultureInfo.InvariantCulture)]);
    if (echo is null)
        return double.NaN;
    try
    {
        await echo.StandardOutput.ReadLineAsync();
        await using var client = new FrameBridgeClient("127.0.0.1", port);
        await client.WaitReadyAsync();
        await RoundTripAsync(client, Math.Max(frames / 10, 100), size);
        return await RoundTripAsync(client, frames, size);
    }
    finally
    {
        echo.Kill();
        await echo.WaitForExitAsync();
    }
}

static async Task<double> PyzmqAsync(int frames, int size)
{
    int port = FreePortPair();
    using Process? run = StartPython([Path.Combine(AppContext.BaseDirectory, "zmq_echo_bench.py"), "run",
        port.ToString(CultureInfo.InvariantCulture), frames.ToString(CultureInfo.InvariantCulture), size.ToString(CultureInfo.InvariantCulture)]);
    if (run is null)
        return double.NaN;
    string? line = await run.StandardOutput.ReadLineAsync();
    await run.WaitForExitAsync();
    if (line is null)
        return double.NaN;
    using JsonDocument result = JsonDocument.Parse(line);
    return result.RootElement.GetProperty("seconds").GetDouble();
}

static Process? StartPython(string[] arguments)
{
    var info = new ProcessStartInfo(Python, arguments) { RedirectStandardOutput = true, UseShellExecute = false };
    try
    {
        return Process.Start(info);
    }
    catch (System.ComponentModel.Win32Exception)
    {
        Console.Error.WriteLine("python3-zmq not available: the libzmq rows are skipped");
        return null;
    }
}

// One payload array shared by every frame: frames are hand-overs and nobody writes to it.
static async Task<double> RoundTripAsync(IFrameBridge client, int frames, int size)
{
    var payload = new byte[size];
    var watch = Stopwatch.StartNew();
    Task sending = Task.Run(async () =>
    {
        for (int i = 0; i < frames; i++)
            await client.SendAsync(new Frame(payload, (ushort)i, 1, 0));
    });
    int received = 0;
    await foreach (Frame frame in client.ReadAllAsync())
    {
        if (frame.Payload.Length != size)
            throw new InvalidOperationException("echo returned a different frame");
        if (++received == frames)
            break;
    }

    await sending;
    return watch.Elapsed.TotalSeconds;
}

static int FreePortPair()
{
    for (int attempt = 0; attempt < 200; attempt++)
    {
        int port = Random.Shared.Next(20000, 32000);
        if (IsFree(port) && IsFree(port + 1))
            return port;
    }

    throw new InvalidOperationException("no free port pair");

    static bool IsFree(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
