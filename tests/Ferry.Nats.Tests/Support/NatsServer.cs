using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Ferry.Nats.Tests.Support;

/// <summary>
/// A real <c>nats-server</c> for one test: loopback, a private port, JetStream on with a private store
/// directory; killed and the directory deleted on dispose. <see cref="Kill"/> and <see cref="StartAsync"/>
/// again (same port, same store) simulate an outage.
/// </summary>
/// <remarks>
/// The server picks its own port at the first start (<c>-p -1</c>) and says which in its ports file: a port chosen here
/// and handed over could be taken meanwhile by another process (another test run's nats-server, under parallel load), and
/// a readiness probe would then find that one listening. The test talked to a stranger's server, and a pause (SIGSTOP) of
/// its own, still starting, stopped nothing it used (a CI failure of HostilePeerTests in session 19). Ready therefore
/// means this process's ports file names the port, not only that something answers there.
/// </remarks>
public sealed class NatsServer : IAsyncDisposable
{
    private static readonly string? s_binary = Find();
    private readonly string _storeDir = Path.Combine(Path.GetTempPath(), "ferry-nats-" + Guid.NewGuid().ToString("n"));
    private Process? _process;

    private readonly bool _jetStream;
    private readonly int? _maxPayload;
    private readonly bool _monitor;
    private readonly (string User, string Password)? _user;

    private NatsServer(bool jetStream, int? maxPayload, bool monitor, (string, string)? user)
        => (_jetStream, _maxPayload, _monitor, _user) = (jetStream, maxPayload, monitor, user);

    /// <summary>The HTTP monitoring port (<c>monitor: true</c>), chosen by the server at its first start; 0 without.</summary>
    public int MonitorPort { get; private set; }

    /// <summary>The client port: chosen by the server at its first start, the same at every restart.</summary>
    public int Port { get; private set; }

    public string Url => $"nats://127.0.0.1:{Port}";

    private string? _configuration;

    /// <summary>Skips the calling test, with the reason, when nats-server is not installed.</summary>
    /// <param name="jetStream">False: a server without JetStream (its API requests get no responders).</param>
    /// <param name="maxPayload">The server's <c>max_payload</c> in bytes; its default (1 MiB) when null.</param>
    /// <param name="monitor">Also the HTTP monitoring endpoint (<see cref="ConnectionsAsync"/>).</param>
    /// <param name="user">A user and password every client must give (others are refused: "Authorization Violation").</param>
    /// <param name="configuration">More of the server's configuration file (e.g. an <c>accounts</c> block), as written.</param>
    public static async Task<NatsServer> StartNewAsync(bool jetStream = true, int? maxPayload = null, bool monitor = false, (string User, string Password)? user = null,
        string? configuration = null)
    {
        Skip.If(s_binary is null, "nats-server is not installed (Debian: apt-get install nats-server; .ci/run installs it)");
        var server = new NatsServer(jetStream, maxPayload, monitor, user) { _configuration = configuration };
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        Directory.CreateDirectory(_storeDir);
        var info = new ProcessStartInfo(s_binary!)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var portsDir = Path.Combine(_storeDir, "ports");
        Directory.CreateDirectory(portsDir);
        foreach (var arg in new[] { "-a", "127.0.0.1", "-p", Port == 0 ? "-1" : Port.ToString(), "--ports_file_dir", portsDir })
            info.ArgumentList.Add(arg);
        if (_monitor)
            foreach (var arg in new[] { "-m", MonitorPort == 0 ? "-1" : MonitorPort.ToString() })
                info.ArgumentList.Add(arg);
        if (_user is var (user, password))
            foreach (var arg in new[] { "--user", user, "--pass", password })
                info.ArgumentList.Add(arg);
        if (_jetStream)
            foreach (var arg in new[] { "-js", "-sd", _storeDir })
                info.ArgumentList.Add(arg);
        if (_maxPayload is not null || _configuration is not null)
        {
            // No command-line flag for these: a configuration file, with the flags above taking precedence.
            var config = Path.Combine(_storeDir, "nats.conf");
            File.WriteAllText(config, (_maxPayload is { } maxPayload ? $"max_payload: {maxPayload}\n" : "") + _configuration);
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(config);
        }
        _process = Process.Start(info) ?? throw new InvalidOperationException("nats-server did not start");
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        // Written once the client listener is up: <executable>_<pid>.ports, {"nats":["nats://127.0.0.1:PORT"]}.
        var portsFile = Path.Combine(portsDir, $"{Path.GetFileName(s_binary)}_{_process.Id}.ports");
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"nats-server exited with {_process.ExitCode} on port {(Port == 0 ? "(its own choice)" : Port)}");
            if (ListeningPort(portsFile) is { } port)
            {
                if (Port != 0 && port != Port)
                    throw new InvalidOperationException($"nats-server restarted on port {port}, not {Port}");
                Port = port;
                if (_monitor)
                {
                    if (MonitorPortIn(portsFile) is not { } monitorPort)
                    {
                        await Task.Delay(20);
                        continue;
                    }
                    MonitorPort = monitorPort;
                }
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"nats-server (pid {_process.Id}) wrote no ports file within 15 s");
            await Task.Delay(20);
        }
    }

    /// <summary>The client port the ports file names; null until the server has written it whole.</summary>
    private static int? ListeningPort(string portsFile)
    {
        string text;
        try
        {
            text = File.ReadAllText(portsFile);
        }
        catch (IOException)
        {
            return null;
        }
        var match = System.Text.RegularExpressions.Regex.Match(text, "\"nats://127\\.0\\.0\\.1:(\\d+)\"");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The monitoring port the ports file names (written with the client port, once both listen).</summary>
    private static int? MonitorPortIn(string portsFile)
    {
        var match = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(portsFile), "\"monitoring\":\\[\"http://127\\.0\\.0\\.1:(\\d+)\"");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The clients connected now, by the name each gave (the monitoring endpoint's <c>/connz</c>; <c>monitor: true</c>).</summary>
    public async Task<IReadOnlyList<string>> ConnectionsAsync()
    {
        using var http = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{MonitorPort}/connz"));
        return doc.RootElement.TryGetProperty("connections", out var list) && list.ValueKind == System.Text.Json.JsonValueKind.Array
            ? [.. list.EnumerateArray().Select(c => c.TryGetProperty("name", out var name) ? name.GetString() ?? "" : "")]
            : [];
    }

    /// <summary>SIGKILL: no goodbye to the clients, as a crash or a pulled cable.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>
    /// SIGSTOP: the server keeps its sockets but reads and answers nothing, so clients' writes pile up in
    /// the kernel's buffers and then in the client's own; <see cref="Resume"/> (SIGCONT) lets it go on.
    /// </summary>
    /// <remarks>
    /// Returns once every thread of the server is stopped. kill() only queues the signal: one thread takes it and
    /// then stops the others, and until the scheduler runs that thread (ms on a loaded machine) the server's other
    /// threads go on reading and answering; a publish sent just after kill() was seen acknowledged.
    /// </remarks>
    public async Task PauseAsync()
    {
        Signal(SigStop);
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
        while (!AllThreadsStopped())
        {
            if (Stopwatch.GetTimestamp() > deadline)
                throw new TimeoutException($"nats-server (pid {_process!.Id}) on port {Port}: not every thread stopped within 10 s of SIGSTOP");
            await Task.Delay(1);
        }
    }

    /// <summary>Every task under /proc/PID/task is in state T (stopped by a signal).</summary>
    private bool AllThreadsStopped()
    {
        foreach (var task in Directory.EnumerateDirectories($"/proc/{_process!.Id}/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread exited between the listing and the read
            }
            // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
            var state = stat[stat.LastIndexOf(')') + 2];
            if (state != 'T')
                return false;
        }
        return true;
    }

    public void Resume() => Signal(SigCont);

    private void Signal(int signal)
    {
        if (_process is not { HasExited: false } process)
            throw new InvalidOperationException($"nats-server on port {Port} is not running");
        if (kill(process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
    }

    // Linux's numbers (x86-64 and arm64).
    private const int SigCont = 18, SigStop = 19;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            Directory.Delete(_storeDir, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>FERRY_NATS_SERVER names the binary (a missing file counts as not installed); else PATH and /usr/sbin.</summary>
    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("FERRY_NATS_SERVER") is { Length: > 0 } chosen)
            return File.Exists(chosen) ? chosen : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':').Append("/usr/sbin").Append("/usr/bin").Append("/usr/local/bin"))
        {
            var candidate = Path.Combine(dir, "nats-server");
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }
}
