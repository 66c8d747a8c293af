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
public sealed class NatsServer : IAsyncDisposable
{
    private static readonly string? s_binary = Find();
    private readonly string _storeDir = Path.Combine(Path.GetTempPath(), "ferry-nats-" + Guid.NewGuid().ToString("n"));
    private Process? _process;

    private readonly bool _jetStream;
    private readonly int? _maxPayload;

    private NatsServer(int port, bool jetStream, int? maxPayload) => (Port, _jetStream, _maxPayload) = (port, jetStream, maxPayload);

    public int Port { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>Skips the calling test, with the reason, when nats-server is not installed.</summary>
    /// <param name="jetStream">False: a server without JetStream (its API requests get no responders).</param>
    /// <param name="maxPayload">The server's <c>max_payload</c> in bytes; its default (1 MiB) when null.</param>
    public static async Task<NatsServer> StartNewAsync(bool jetStream = true, int? maxPayload = null)
    {
        Skip.If(s_binary is null, "nats-server is not installed (Debian: apt-get install nats-server; .ci/run installs it)");
        var server = new NatsServer(Ferry.Tests.Support.FreePorts.One(), jetStream, maxPayload);
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
        foreach (var arg in new[] { "-a", "127.0.0.1", "-p", Port.ToString() })
            info.ArgumentList.Add(arg);
        if (_jetStream)
            foreach (var arg in new[] { "-js", "-sd", _storeDir })
                info.ArgumentList.Add(arg);
        if (_maxPayload is { } maxPayload)
        {
            // No command-line flag for it: a configuration file, with the flags above taking precedence.
            var config = Path.Combine(_storeDir, "nats.conf");
            File.WriteAllText(config, $"max_payload: {maxPayload}\n");
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(config);
        }
        _process = Process.Start(info) ?? throw new InvalidOperationException("nats-server did not start");
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"nats-server exited with {_process.ExitCode} on port {Port}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
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
    public void Pause() => Signal(SigStop);

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
