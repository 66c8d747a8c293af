using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Tests.Support;

/// <summary>
/// A real HAProxy (Debian's <c>haproxy</c>) started for one test in <c>mode tcp</c> on loopback: one
/// frontend per backend server line (e.g. <c>send-proxy</c>, <c>send-proxy-v2</c>), each on a private
/// port, all pointing at one Ferry stage; its own directory, in the foreground (<c>-db</c>), killed at
/// the end. Tests using it are skipped, with the reason, when it is not installed (<c>.ci/run</c> installs it).
/// </summary>
public sealed class HaproxyServer : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/haproxy";

    private readonly Process _process;
    private readonly string _dir;
    private readonly StringBuilder _output = new();

    public static string? WhyUnavailable => File.Exists(Binary) ? null : $"{Binary} is not installed (apt-get install haproxy; .ci/run does)";

    private HaproxyServer(Process process, string dir, IReadOnlyDictionary<string, IPEndPoint> frontends)
    {
        _process = process;
        _dir = dir;
        Frontends = frontends;
    }

    /// <summary>Where clients connect, by the server option the frontend's backend uses.</summary>
    public IReadOnlyDictionary<string, IPEndPoint> Frontends { get; }

    /// <summary>Starts HAProxy with one frontend per option in <paramref name="serverOptions"/> and waits until each listens.</summary>
    public static async Task<HaproxyServer> StartAsync(IPEndPoint ferry, params string[] serverOptions)
    {
        var dir = Directory.CreateTempSubdirectory("ferry-haproxy-").FullName;
        var frontends = serverOptions.ToDictionary(o => o, _ => new IPEndPoint(IPAddress.Loopback, FreePorts.One()));
        var config = new StringBuilder("""
            global
                maxconn 200
            defaults
                mode tcp
                timeout connect 5s
                timeout client 60s
                timeout server 60s

            """);
        var i = 0;
        foreach (var (option, bind) in frontends)
        {
            config.Append($"""
                frontend in{i}
                    bind {bind}
                    default_backend out{i}
                backend out{i}
                    server ferry {ferry} {option}

                """);
            i++;
        }
        var path = Path.Combine(dir, "haproxy.cfg");
        await File.WriteAllTextAsync(path, config.ToString());
        var start = new ProcessStartInfo(Binary)
        {
            ArgumentList = { "-f", path, "-db" },
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        var server = new HaproxyServer(process, dir, frontends);
        process.OutputDataReceived += (_, e) => server.Record(e.Data);
        process.ErrorDataReceived += (_, e) => server.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            foreach (var bind in frontends.Values)
                await Poll.UntilAsync(() => !process.HasExited && !FreePorts.IsFree(bind.Port), $"haproxy listens on {bind} ({server.Output})", TimeSpan.FromSeconds(20));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    private void Record(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    /// <summary>What HAProxy printed (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>A client of HAProxy's frontend from a chosen loopback address (Linux routes 127.0.0.0/8 to lo).</summary>
    public async Task<Socket> ConnectAsync(string serverOption, string from)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        await socket.ConnectAsync(Frontends[serverOption]).WaitAsync(TimeSpan.FromSeconds(10));
        return socket;
    }

    public async ValueTask DisposeAsync()
    {
        await ExternalPeer.StopAsync(_process, _dir);
    }
}

/// <summary>A fact that is reported as skipped, with the reason, when HAProxy is missing; never as passed.</summary>
public sealed class HaproxyFactAttribute : FactAttribute
{
    public HaproxyFactAttribute()
    {
        if (HaproxyServer.WhyUnavailable is { } reason)
            Skip = reason;
    }
}
