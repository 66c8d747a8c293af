using System.Diagnostics;
using System.Text;

namespace Ferry.Tests.Bridge;

/// <summary>Debian's python3 with python3-zmq (pyzmq over libzmq), the reference ZeroMQ peer.</summary>
internal static class PythonZmq
{
    // The python3 on PATH may be a pyenv build without zmq; Debian's interpreter sees python3-zmq.
    // FERRY_BRIDGE_PYTHON overrides it (pointing it at a python without zmq shows the skip path).
    public static readonly string Interpreter = Environment.GetEnvironmentVariable("FERRY_BRIDGE_PYTHON") is { Length: > 0 } chosen ? chosen : "/usr/bin/python3";

    private static readonly Lazy<string?> MissingReason = new(Probe);

    /// <summary>Null when the peer can run, else why not.</summary>
    public static string? WhyUnavailable => MissingReason.Value;

    public static string PeerScript => Path.Combine(AppContext.BaseDirectory, "Bridge", "peers", "rogue_peer.py");

    private static string? Probe()
    {
        if (!File.Exists(Interpreter))
            return $"python3-zmq is not installed: {Interpreter} does not exist (apt-get install -y python3-zmq)";
        try
        {
            using var probe = Process.Start(new ProcessStartInfo(Interpreter, ["-c", "import zmq"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            if (!probe.WaitForExit(30_000))
            {
                probe.Kill();
                return "python3-zmq is not installed: probing it timed out";
            }

            return probe.ExitCode == 0 ? null : $"python3-zmq is not installed: {Interpreter} cannot import zmq (apt-get install -y python3-zmq)";
        }
        catch (Exception e)
        {
            return $"python3-zmq is not installed: {e.Message}";
        }
    }

    public static PeerProcess Start(params string[] args) => new(Interpreter, [PeerScript, .. args]);
}

/// <summary>A running python peer whose stdout lines are collected and awaitable.</summary>
internal sealed class PeerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PeerProcess(string file, string[] args)
    {
        var info = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (_stdout)
                _stdout.AppendLine(e.Data);
            if (e.Data.Contains("\"started\""))
                _started.TrySetResult();
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                lock (_stderr)
                    _stderr.AppendLine(e.Data);
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (_stdout)
                lock (_stderr)
                    return $"stdout:\n{_stdout}\nstderr:\n{_stderr}";
        }
    }

    /// <summary>Completes once the peer has bound or connected its sockets.</summary>
    public async Task WaitStartedAsync(CancellationToken cancellationToken)
    {
        Task exited = _process.WaitForExitAsync(cancellationToken);
        Task first = await Task.WhenAny(_started.Task, exited);
        if (first != _started.Task)
            throw new InvalidOperationException("the python peer exited before starting\n" + Output);
    }

    public async Task<int> WaitExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}

/// <summary>A fact that is reported as skipped, with the reason, when python3-zmq is missing; never as passed.</summary>
public sealed class PythonZmqFactAttribute : FactAttribute
{
    public PythonZmqFactAttribute()
    {
        if (PythonZmq.WhyUnavailable is { } reason)
            Skip = reason;
    }
}
